"""Reliable messaging for the diversion services: CloudEvents, outbox, inbox, quorum queues, dead letters, RPC.

What a service declares:

    from shared.db import Database
    from shared.messaging import Outbox, RpcProxy, new_event, reliable_handler
    from shared.messaging.catalog import CaseOpened, ReferralAccepted

    class CaseworkService:
        name = "casework"
        db = Database()
        outbox = Outbox()
        resources = RpcProxy("resources")

        @reliable_handler(ReferralAccepted)
        def on_referral_accepted(self, event):        # event.data is a ReferralAccepted
            case = open_case(self.db, event.data)      # plain handler; no commit needed
            self.outbox.record(self.db, new_event(CaseOpened(...), subject=case.id, tenantid=event.tenantid))
"""

from shared.messaging.consumer import ReliableEventHandler, reliable_handler
from shared.messaging.envelope import CloudEvent, Emit, InvalidEvent, new_event, parse_event
from shared.messaging.errors import ConsentRequired, RemoteError, RpcTimeout, remote_error
from shared.messaging.nameko_outbox import Outbox
from shared.messaging.outbox import OutboxRelay, outbox_backlog, record
from shared.messaging.rpc import RpcProxy, rpc
from shared.messaging.tables import add_messaging_tables, create_messaging_tables, drop_messaging_tables

__all__ = [
    "CloudEvent",
    "ConsentRequired",
    "Emit",
    "InvalidEvent",
    "Outbox",
    "OutboxRelay",
    "ReliableEventHandler",
    "RemoteError",
    "RpcProxy",
    "RpcTimeout",
    "add_messaging_tables",
    "create_messaging_tables",
    "drop_messaging_tables",
    "new_event",
    "outbox_backlog",
    "parse_event",
    "record",
    "reliable_handler",
    "remote_error",
    "rpc",
]

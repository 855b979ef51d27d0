"""intake's HTTP endpoints, one mixin per resource, composed into `IntakeService`."""

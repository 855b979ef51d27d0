# One image for every diversion service and the migration job; the command picks which one runs
# (`diversion serve intake`, `diversion migrate --all`). See docs/adr/0005-deployment.md.

FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# The dependency tree is pinned by constraints.txt; pyproject.toml names the project.
COPY pyproject.toml constraints.txt README.md ./
COPY shared ./shared
COPY services ./services
# A virtualenv keeps the install in one folder the runtime stage copies whole, without the sources.
RUN python -m venv /opt/diversion \
    && /opt/diversion/bin/pip install -c constraints.txt .

FROM python:3.11.13-slim-bookworm
ENV PATH=/opt/diversion/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DIVERSION_DATA_DIR=/var/lib/diversion
COPY --from=build /opt/diversion /opt/diversion
# A fixed numeric id so orchestrators can check runAsNonRoot without resolving names.
RUN groupadd --system --gid 10001 diversion \
    && useradd --system --uid 10001 --gid diversion --home-dir /var/lib/diversion --shell /usr/sbin/nologin diversion \
    && install --directory --owner=diversion --group=diversion --mode=0750 /var/lib/diversion
WORKDIR /var/lib/diversion
USER 10001:10001
EXPOSE 8001-8004
CMD ["diversion", "--help"]

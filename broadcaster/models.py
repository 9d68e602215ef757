"""Every table, imported in one place so metadata (and Alembic) sees the whole schema."""

from sqlmodel import SQLModel

import broadcaster.audit
import broadcaster.batches
import broadcaster.broadcasts
import broadcaster.deliveries
import broadcaster.departments
import segments.residents  # noqa: F401

metadata = SQLModel.metadata

"""Every table, imported in one place so metadata (and Alembic) sees the whole schema.

The imports are for their side effect (registering tables), hence the per-file F401 ignore.
"""

from sqlmodel import SQLModel

import broadcaster.audit
import broadcaster.batches
import broadcaster.benefits.models
import broadcaster.broadcasts
import broadcaster.deliveries
import broadcaster.delivery.shared_bucket
import broadcaster.departments
import broadcaster.digest
import broadcaster.emergency.models
import broadcaster.emergency.shelters
import broadcaster.garbage.models
import broadcaster.kpis.models
import broadcaster.replicas
import broadcaster.rich_menus
import broadcaster.staff
import broadcaster.staff_sessions
import broadcaster.webhook_events
import segments.residents
import segments.saved

metadata = SQLModel.metadata

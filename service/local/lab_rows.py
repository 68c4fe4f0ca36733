"""The lab's example rows (the course's DynamoDB lab types them into the AWS console), stored for a new
table so that a fresh start looks like the lab."""

from __future__ import annotations

import logging

from service.core.errors import AlreadyExists
from service.core.models import ServiceRequestCreate, Status
from service.storage.repository import Repository

log = logging.getLogger(__name__)

# Who gives the lab's rows their status, as their status history names it.
LAB_ACTOR = "lab"
# As the lab types them in: plate, id, phone number, description, status.
LAB_ROWS = tuple(
    ServiceRequestCreate(
        license_plate=plate,
        service_id=service_id,
        phone_number=phone,
        service_description=description,
        service_status=status,
    )
    for plate, service_id, phone, description, status in (
        ("8B1111", "1", "208-444-5555", "Oil Change on a 2007 Saturn Outlook", Status.BEING_SERVICED),
        ("1J1957", "2", "208-867-5309", "Brakes for a 08 Mazda 3", Status.ACCEPTED),
    )
)


async def seed(repository: Repository) -> list[str]:
    """Store the lab's rows that are missing; never overwrites. Returns the keys it added."""
    added = []
    for row in LAB_ROWS:
        try:
            await repository.create(row, by=LAB_ACTOR)
            added.append(f"{row.license_plate}/{row.service_id}")
        except AlreadyExists:
            log.info("lab row %s/%s is there already; left as it is", row.license_plate, row.service_id)
    return added

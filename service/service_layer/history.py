"""Read side of appeasements: one with its allocation and transitions, or an order's all."""

from __future__ import annotations

from schemas.appeasements import AppeasementOut, OrderAppeasementsOut, RejectionOut
from service.adapters import appeasement_repo as appeasements
from service.domain.errors import DomainError
from service.service_layer.ports import PoolSource
from service.service_layer.queries import OrderNotFound
from service.service_layer.views import appeasement_out, iso


class AppeasementNotFound(DomainError):
    code = "APPEASEMENT_NOT_FOUND"


class History:
    def __init__(self, database: PoolSource) -> None:
        self._database = database

    async def get(self, appeasement_id: str) -> AppeasementOut:
        async with self._database.pool.acquire() as connection:
            found = await appeasements.load(connection, [appeasement_id])
        if not found:
            raise AppeasementNotFound(
                f"no appeasement {appeasement_id}", appeasement_id=appeasement_id
            )
        return appeasement_out(found[0])

    async def held(self, limit: int = 500) -> list[AppeasementOut]:
        """Appeasements waiting for a second person's decision, oldest first."""
        async with self._database.pool.acquire() as connection:
            held = await appeasements.held(connection, limit)
            found = await appeasements.load(connection, held)
        return [appeasement_out(record) for record in found]

    async def for_order(self, order_id: str) -> OrderAppeasementsOut:
        async with self._database.pool.acquire() as connection:
            if not await appeasements.order_known(connection, order_id):
                raise OrderNotFound(order_id)
            found = await appeasements.load(connection, order_id=order_id)
            refused = await appeasements.rejections(connection, order_id)
        return OrderAppeasementsOut(
            order_id=order_id,
            appeasements=[appeasement_out(record) for record in found],
            rejections=[RejectionOut(**{**row, "at": iso(row["at"])}) for row in refused],
        )

"""The checkout's statements sent on the driver's own connection (app.core.db.driver) behave as
SQLAlchemy's: inside the request's transaction, with the same errors and the same Python values."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db.driver import DriverConnection, connection_of
from app.core.db.session import Cents, UtcDateTime, write_transaction
from app.customers.models import Customer

_NEW_CUSTOMER = insert(Customer).values(external_id=bindparam("external"), created_at=func.now()).returning(Customer.id)
_COUNT = select(func.count()).select_from(Customer).where(Customer.external_id == bindparam("external"))
_TYPED = select(
    bindparam("money", type_=Cents()).label("money"),
    bindparam("moment", type_=UtcDateTime()).label("moment"),
    literal(7).label("constant"),
)


class Boom(Exception):
    pass


async def test_postgresql_statements_go_on_the_driver(app: FastAPI, engine: AsyncEngine) -> None:
    async with write_transaction(app.state.sessionmaker) as session:
        connection = await connection_of(session)
        expected = DriverConnection if engine.dialect.name == "postgresql" else type(await session.connection())
        assert type(connection) is expected


async def test_a_statement_is_part_of_the_request_transaction(app: FastAPI, engine: AsyncEngine) -> None:
    with pytest.raises(Boom):
        async with write_transaction(app.state.sessionmaker) as session:
            connection = await connection_of(session)
            (await connection.execute(_NEW_CUSTOMER, {"external": "undone"})).scalar_one()
            raise Boom  # the request fails after the write: nothing of it stays
    async with write_transaction(app.state.sessionmaker) as session:
        connection = await connection_of(session)
        assert (await connection.execute(_COUNT, {"external": "undone"})).scalar_one() == 0
        (await connection.execute(_NEW_CUSTOMER, {"external": "kept"})).scalar_one()
    async with write_transaction(app.state.sessionmaker) as session:
        assert (await (await connection_of(session)).execute(_COUNT, {"external": "kept"})).scalar_one() == 1


async def test_errors_are_sqlalchemys(app: FastAPI, engine: AsyncEngine) -> None:
    async with write_transaction(app.state.sessionmaker) as session:
        connection = await connection_of(session)
        await connection.execute(_NEW_CUSTOMER, {"external": "twice"})
    with pytest.raises(IntegrityError) as raised:
        async with write_transaction(app.state.sessionmaker) as session:
            connection = await connection_of(session)
            await connection.execute(_NEW_CUSTOMER, {"external": "twice"})
    if engine.dialect.name == "postgresql":
        assert raised.value.orig.sqlstate == "23505"  # type: ignore[union-attr]


async def test_values_come_back_as_the_types_say(app: FastAPI, engine: AsyncEngine) -> None:
    moment = datetime(2026, 12, 6, 8, 30, tzinfo=UTC)
    async with write_transaction(app.state.sessionmaker) as session:
        row = (await (await connection_of(session)).execute(_TYPED, {"money": Decimal("12.5"), "moment": moment})).one()
    assert row.money == Decimal("12.50") and str(row.money) == "12.50"
    assert row.moment == moment and row.moment.tzinfo is not None
    assert row.constant == 7
    assert row[2] == 7  # by position too, as the queries read their rows

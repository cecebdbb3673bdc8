"""Every table, imported in one place so Alembic and the tests see the whole schema."""


def import_all_models() -> None:
    from app.admin import models as admin_models  # noqa: F401
    from app.audit import models as audit_models  # noqa: F401
    from app.auth import models as auth_models  # noqa: F401
    from app.campaigns import models as campaigns_models  # noqa: F401
    from app.checkouts import models as checkouts_models  # noqa: F401
    from app.codes import models as codes_models  # noqa: F401
    from app.customers import models as customers_models  # noqa: F401
    from app.discounts import models as discounts_models  # noqa: F401
    from app.idempotency import models as idempotency_models  # noqa: F401
    from app.webhooks import models as webhooks_models  # noqa: F401

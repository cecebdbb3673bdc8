import httpx

from tests.factories import apply, create_campaign, create_customer


async def test_apply_gives_twenty_percent_capped(client: httpx.AsyncClient) -> None:
    customer = await create_customer(client)
    campaign = await create_campaign(client)
    response = await apply(client, campaign["id"], customer["id"], cart_value=500)
    assert response.status_code == 201, response.text
    assert response.json()["discount_amount"] == 100.0

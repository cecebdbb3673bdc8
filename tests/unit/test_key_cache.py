"""The worker's key cache forgets what a revocation names, and a lookup under way at a revocation is
not remembered."""

from app.auth.cache import KeyCache
from app.auth.service import Principal


def principal(prefix: str) -> Principal:
    return Principal(name=prefix, key_prefix=prefix, scopes=frozenset({"read"}))


def test_forgetting_a_key_drops_every_digest_of_its_prefix_and_nothing_else() -> None:
    cache = KeyCache(ttl_seconds=300)
    cache.remember("digest-a", principal("cms_live_aaaaaaaa"), generation=cache.generation)
    cache.remember("digest-b", principal("cms_live_bbbbbbbb"), generation=cache.generation)
    cache.forget_key("cms_live_aaaaaaaa")
    assert cache.verified("digest-a") is None
    assert cache.verified("digest-b") == principal("cms_live_bbbbbbbb")


def test_forgetting_all_drops_every_key() -> None:
    cache = KeyCache(ttl_seconds=300)
    cache.remember("digest-a", principal("cms_live_aaaaaaaa"), generation=cache.generation)
    cache.forget_all()
    assert cache.verified("digest-a") is None


def test_a_lookup_that_began_before_a_revocation_was_heard_is_not_remembered() -> None:
    cache = KeyCache(ttl_seconds=300)
    began = cache.generation
    cache.forget_key("cms_live_cccccccc")  # heard while the lookup was under way
    cache.remember("digest-c", principal("cms_live_cccccccc"), generation=began)
    assert cache.verified("digest-c") is None
    cache.remember("digest-c", principal("cms_live_cccccccc"), generation=cache.generation)
    assert cache.verified("digest-c") is not None

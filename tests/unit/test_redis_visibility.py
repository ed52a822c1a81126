"""Redis visibility indexes: an instance stored before they existed joins them when it is next stored."""

from __future__ import annotations

import pytest

from liteflow.core.models import WorkflowInstance, WorkflowStatus

pytestmark = pytest.mark.redis


def test_an_instance_stored_by_an_older_version_joins_the_indexes_on_its_next_persist(
    redis_url: str, redis_cleanup: str
) -> None:
    import redis

    from liteflow.providers.redis import RedisPersistenceProvider
    from liteflow.providers.redis.shards import Shards

    provider = RedisPersistenceProvider(redis_url, prefix=redis_cleanup)
    client = redis.Redis.from_url(redis_url)
    try:
        old = WorkflowInstance(workflow_definition_id="Old", version=1, reference="r-1")
        provider.create_workflow(old)
        # what an older version left: no ``def`` / ``ref`` fields, no create-time index entries
        base = Shards(redis_cleanup).base(old.id)
        client.hdel(f"{base}wf:{old.id}", "def", "ref")
        for key in ("idx:created", "idx:created:Runnable", "idx:def:Old", "idx:ref:r-1"):
            client.zrem(base + key, old.id)
        assert provider.list_workflows() == [] and provider.count_workflows(definition_id="Old") == 0

        provider.persist_workflow(old)  # e.g. it ran a step: status unchanged
        assert [i.id for i in provider.list_workflows(status=WorkflowStatus.RUNNABLE)] == [old.id]
        assert provider.count_workflows(definition_id="Old", reference="r-1") == 1
        assert provider.purge_workflows(WorkflowStatus.RUNNABLE, old.create_time.replace(year=2999)) == 1
        assert provider.count_workflows() == 0 and provider.count_workflows(reference="r-1") == 0
    finally:
        client.close()
        provider.close()

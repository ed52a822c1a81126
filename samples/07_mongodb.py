"""MongoDB persistence: workflow state in MongoDB, surviving the process.

Set LITEFLOW_MONGO_URL (e.g. mongodb://localhost:27017, see docker-compose.yml) to use a real server;
without it the sample runs against mongomock (an in-process stand-in) so it always runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from liteflow.core import StepBody, StepExecutionContext, Workflow, WorkflowBuilder, configure_workflow_host
from liteflow.providers.mongo import MongoPersistenceProvider


@dataclass
class Order:
    item: str = ""
    quantity: int = 0
    total: float = 0.0
    confirmation: str = ""


class PriceOrder(StepBody):
    def __init__(self) -> None:
        self.quantity = 0
        self.total = 0.0

    def run(self, context: StepExecutionContext) -> None:
        self.total = self.quantity * 2.5


class OrderWorkflow(Workflow):
    data_type = Order

    def build(self, builder: WorkflowBuilder) -> None:
        (
            builder.start_with(PriceOrder)
            .input("quantity", lambda data, context: data.quantity)
            .output("total", lambda step: step.total)
            .wait_for("payment", lambda data, context: data.item, lambda data, context: context.workflow.create_time)
            .output("confirmation", lambda step: step.event_data)
        )


def mongo_client() -> object:
    url = os.environ.get("LITEFLOW_MONGO_URL")
    if url:
        import pymongo

        return pymongo.MongoClient(url, tz_aware=True)
    import mongomock

    print("LITEFLOW_MONGO_URL is not set: using mongomock")
    return mongomock.MongoClient(tz_aware=True)


def main() -> None:
    client = mongo_client()
    persistence = MongoPersistenceProvider(client, database="liteflow_sample")  # type: ignore[arg-type]
    host = configure_workflow_host(persistence=persistence, poll_interval=0.2)
    host.register_workflow(OrderWorkflow())
    with host:
        workflow_id = host.start_workflow("OrderWorkflow", None, Order(item="book-42", quantity=4))
        host.publish_event("payment", "book-42", "paid by card")
        instance = host.wait_for_workflow(workflow_id, timeout=10)
    print(f"{instance.status.value}: {instance.data}")
    stored = client["liteflow_sample"]["workflows"].find_one({"_id": workflow_id})  # type: ignore[index]
    print(f"stored in MongoDB as JSON: data={stored['data']}")
    client.drop_database("liteflow_sample")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

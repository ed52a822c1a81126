"""Events: the workflow waits for "event1"/"key1"; this script publishes it a moment later.

python samples/03_events.py
"""

import logging
import time

from liteflow.core import *


class Hello(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Hello world")


class Goodbye(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Goodbye")
        return ExecutionResult.next()


class MyData:
    def __init__(self):
        self.captured_value = None


class MyWorkflow(Workflow):
    data_type = MyData

    def build(self, builder: WorkflowBuilder):
        (
            builder.start_with(Hello)
            .wait_for("event1", lambda data, context: "key1")
            .output("captured_value", lambda step: step.event_data)
            .then(Goodbye)
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    host = configure_workflow_host()
    host.register_workflow(MyWorkflow())
    host.start()
    try:
        wid = host.start_workflow("MyWorkflow", 1, None)
        time.sleep(0.2)  # a moment later, once the workflow waits for its event...
        while not any(p.event_name == "event1" for p in host.get_workflow_instance(wid).execution_pointers):
            time.sleep(0.05)
        print("publishing event1/key1")
        host.publish_event("event1", "key1", "hello")
        instance = host.wait_for_workflow(wid, timeout=30)
        print(f"captured_value = {instance.data.captured_value!r} ({instance.status.value})")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

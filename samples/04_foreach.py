"""Parallel for_each: the block runs once per item, context.item being the item.

python samples/04_foreach.py
"""

import logging

from liteflow.core import *


class Hello(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Hello world")


class Goodbye(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print("Goodbye")
        return ExecutionResult.next()


class DoStuff(StepBody):
    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print(f"doing stuff...{context.execution_pointer.context_item}")
        return ExecutionResult.next()


class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        (
            builder.start_with(Hello)
            .for_each(lambda data, context: ["abc", "def", "xyz"])
            .do(lambda x: x.start_with(DoStuff))
            .then(Goodbye)
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    host = configure_workflow_host()
    host.register_workflow(MyWorkflow())
    host.start()
    try:
        wid = host.start_workflow("MyWorkflow", 1, None)
        instance = host.wait_for_workflow(wid, timeout=30)
        print(f"workflow finished: {instance.status.value}")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

"""Hello world: a workflow of two steps, run on the in-memory default host.

python samples/01_hello_world.py
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


class MyWorkflow(Workflow):
    def id(self):
        return "MyWorkflow"

    def version(self):
        return 1

    def build(self, builder: WorkflowBuilder):
        builder.start_with(Hello).then(Goodbye)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    host = configure_workflow_host()
    host.register_workflow(MyWorkflow())
    host.start()
    try:
        wid = host.start_workflow("MyWorkflow", 1, None)
        instance = host.wait_for_workflow(wid, timeout=30)
        print(f"workflow {instance.workflow_definition_id} finished: {instance.status.value}")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

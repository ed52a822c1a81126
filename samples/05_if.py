"""If: the block runs only when the condition holds. Runs the workflow twice, with value1 = 5 and 1.

python samples/05_if.py
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
        print("doing stuff: value1 > 3")
        return ExecutionResult.next()


class MyData:
    def __init__(self, value1=0):
        self.value1 = value1


class MyWorkflow(Workflow):
    def build(self, builder: WorkflowBuilder):
        (
            builder.start_with(Hello)
            .if_(lambda data, context: data.value1 > 3)
            .do(lambda x: x.start_with(DoStuff))
            .then(Goodbye)
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    host = configure_workflow_host()
    host.register_workflow(MyWorkflow())
    host.start()
    try:
        for value1 in (5, 1):
            print(f"-- value1 = {value1}")
            wid = host.start_workflow("MyWorkflow", 1, MyData(value1))
            instance = host.wait_for_workflow(wid, timeout=30)
            print(f"workflow finished: {instance.status.value}")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

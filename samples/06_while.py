"""While: the block runs again and again while the condition holds.

python samples/06_while.py
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
    def __init__(self):
        self.my_value = 0
        self.your_value = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        print(f"doing stuff...{self.my_value}")
        self.your_value = self.my_value + 1
        return ExecutionResult.next()


class MyData:
    def __init__(self):
        self.value1 = 0


class MyWorkflow(Workflow):
    data_type = MyData

    def build(self, builder: WorkflowBuilder):
        (
            builder.start_with(Hello)
            .while_(lambda data, context: data.value1 < 3)
            .do(
                lambda do: (
                    do.start_with(DoStuff)
                    .input("my_value", lambda data, context: data.value1)
                    .output("value1", lambda step: step.your_value)
                )
            )
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
        print(f"value1 = {instance.data.value1} ({instance.status.value})")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

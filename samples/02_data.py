"""Passing data between steps: inputs read the workflow's data, outputs write it back.

python samples/02_data.py
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


class AddNumbers(StepBody):
    def __init__(self):
        self.input1 = 0
        self.input2 = 0
        self.output = 0

    def run(self, context: StepExecutionContext) -> ExecutionResult:
        self.output = self.input1 + self.input2
        print(f"{self.input1} + {self.input2} = {self.output}")
        return ExecutionResult.next()


class MyData:
    def __init__(self):
        self.value1 = 0
        self.value2 = 0
        self.value3 = 0


class MyWorkflow(Workflow):
    data_type = MyData

    def build(self, builder: WorkflowBuilder):
        (
            builder.start_with(Hello)
            .then(AddNumbers)
            .input("input1", lambda data, context: data.value1)
            .input("input2", lambda data, context: data.value2)
            .output("value3", lambda step: step.output)
            .then(Goodbye)
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    host = configure_workflow_host()
    host.register_workflow(MyWorkflow())
    host.start()
    try:
        data = MyData()
        data.value1 = 2
        data.value2 = 3
        wid = host.start_workflow("MyWorkflow", 1, data)
        instance = host.wait_for_workflow(wid, timeout=30)
        print(f"value3 = {instance.data.value3} ({instance.status.value})")
    finally:
        host.stop()


if __name__ == "__main__":
    main()

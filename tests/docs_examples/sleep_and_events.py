# https://developers.cloudflare.com/workflows/python/python-workers-api/ (WorkflowStep:
# step.sleep, step.sleep_until, step.wait_for_event). The page shows each call as the body of
# `async def run(self, event, step):`; here the three bodies follow one another in one run, the
# second sleep renamed (a name may be used once per kind) and the datetime import added.
import datetime

from workers import WorkflowEntrypoint


class SleepWorkflow(WorkflowEntrypoint):
    async def run(self, event, step):
        await step.sleep("my-sleep-step", "10 seconds")
        await step.sleep_until("my-sleep-until-step", datetime.datetime.now() + datetime.timedelta(seconds=10))
        await step.wait_for_event("my-wait-for-event-step", "my-event-type")

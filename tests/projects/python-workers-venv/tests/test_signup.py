# The project's own test, written as a user would: it imports the project's code (and so
# Cloudflare's `workers` SDK) at collection time.
from src.entry import SignupWorkflow
from workers import WorkflowEntrypoint


async def test_signup_completes_after_the_trial(cfwf, introspect_workflow):
    assert issubclass(SignupWorkflow, WorkflowEntrypoint)
    captured = introspect_workflow(cfwf.env.SIGNUP)
    response = await cfwf.fetch("/", method="POST", json={"email": "Ada@Example.com", "tags": ["beta"]})
    assert response.status == 200
    [instance] = await captured.get()
    await instance.wait_for_status("complete")
    assert await instance.get_output() == {"mail": "welcome mail sent to ada@example.com (pro)", "tags": ["beta"]}

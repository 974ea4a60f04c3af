"""BareApp: the reference for single-report POST speed — FastAPI validating the same model, nothing else."""

from fastapi import FastAPI

from dxmon.contracts import ReportIn

app = FastAPI()


@app.post("/v1/reports", status_code=202)
async def post_report(report: ReportIn) -> dict:
    return {"accepted": 1, "duplicates": 0, "results": [{"event_id": str(report.event_id), "status": "accepted"}]}

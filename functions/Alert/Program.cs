using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Alerts;

// The Alert function: dead letters and zombie takeovers → Slack (FP_SLACK_WEBHOOK_URL); a thin host like the stages.
var app = PipelineServices.BuildFunctionHost<AlertFunction>(args, AlertFunction.Name);
await app.RunAsync();

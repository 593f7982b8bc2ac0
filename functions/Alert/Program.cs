using FinancialPipeline.Hosting;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Alerts;
using Microsoft.Extensions.DependencyInjection;

// The Alert function: dead letters and zombie takeovers → Slack (FP_SLACK_WEBHOOK_URL); a thin host like the stages.
return await FunctionHost.RunAsync(AlertFunction.Name, () =>
{
    var app = PipelineServices.BuildFunctionHost<AlertFunction>(args, AlertFunction.Name);
    app.Services.GetRequiredService<IAlertChannel>(); // a malformed FP_SLACK_WEBHOOK_URL fails the start, not the first alert
    return app;
});

using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Aggregate function: a thin host; everything else lives in shared/.
var app = PipelineServices.BuildFunctionHost<AggregateFunction>(args, AggregateFunction.Name);
await app.RunAsync();

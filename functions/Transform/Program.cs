using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Transform function: a thin host; everything else lives in shared/.
var app = PipelineServices.BuildFunctionHost<TransformFunction>(args, TransformFunction.Name);
await app.RunAsync();

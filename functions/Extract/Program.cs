using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Extract function: a thin host; everything else lives in shared/.
var app = PipelineServices.BuildFunctionHost<ExtractFunction>(args, ExtractFunction.Name);
await app.RunAsync();

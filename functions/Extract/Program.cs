using FinancialPipeline.Hosting;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Extract function: a thin host; everything else lives in shared/.
return await FunctionHost.RunAsync(ExtractFunction.Name, () => PipelineServices.BuildFunctionHost<ExtractFunction>(args, ExtractFunction.Name));

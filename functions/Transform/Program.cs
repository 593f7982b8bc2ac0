using FinancialPipeline.Hosting;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Transform function: a thin host; everything else lives in shared/.
return await FunctionHost.RunAsync(TransformFunction.Name, () => PipelineServices.BuildFunctionHost<TransformFunction>(args, TransformFunction.Name));

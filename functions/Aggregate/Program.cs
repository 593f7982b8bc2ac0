using FinancialPipeline.Hosting;
using FinancialPipeline.Stages;
using FinancialPipeline.Stages.Functions;

// The Aggregate function: a thin host; everything else lives in shared/.
return await FunctionHost.RunAsync(AggregateFunction.Name, () => PipelineServices.BuildFunctionHost<AggregateFunction>(args, AggregateFunction.Name));

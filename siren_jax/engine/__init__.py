"""The engine: what fits any signal, knowing none. The signal registry (``registry``), the Task
protocol (``task``), the commands' training loop (``train``, ``run``), the step (``step``), the optimiser
(``optim``), per-point hyperparameters (``hyper``), sampling, sharding, evaluation in chunks, the memory
estimate, loss terms (``supervision``) and PSNR (``metrics``)."""

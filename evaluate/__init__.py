"""evaluate: speculative decoding of a (target, draft) pair across decoding temperatures.

Run a sweep:   python -m evaluate run evaluate.yaml      (see `python -m evaluate run --help`)
Check a config: python -m evaluate validate evaluate.yaml

Modules (one concern each): `costmodel` (formulas), `probs` (temperature softmax, overlap β), `kvcache`
(batch-1 KV caches with rollback), `specdec` (the sampler and the target-alone decoder), `analytic`
(teacher-forced α and β per position, step-cost probe), `chained` (tokens per call predicted from correlated
acceptance; k: auto picks k from it), `baselines` (transformers assisted generation), `vllm_baseline`,
`metrics`, `runs`, `sweep`, `report`, `config`, `cli`, `search` (recipe search). Importing this package
loads nothing heavy: the benchmark script uses the sampler on machines without pydantic/polars/datasets.
"""

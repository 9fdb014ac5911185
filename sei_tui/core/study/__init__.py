"""Studies: a grid of models x scenarios x link parameters, run once per point on a local
process pool or a Dask cluster, results kept in a resumable folder (docs/study-format.md).

- `spec`: the study file (TOML), validated up front -> `Study`;
- `codec_times`: encode/decode times measured once per key and cached, so that a study and
  its re-run give the same numbers;
- `tasks`: the network task a worker runs (no torch): simulations of one chunk of points;
- `executors`: a local process pool or Dask, both behind one `submit`/`results` shape;
- `store`: the results folder (Parquet parts, a JSON summary), atomic and resumable;
- `runner`: preparation once per model x scenario, the grid, ranking per point;
- `report`: the best deployment per point and the sensitivity map, from a results folder.
"""

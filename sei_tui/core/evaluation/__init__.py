"""Stage 4: evaluation. Payload encodings, deployments with measured payloads and accuracy,
latency from simulated transfers, QoS, ranking and recommendation, reports and sweeps."""

"""The streaming decoding service: config, round source, service and pools, Ray actors."""

"""Operating a deployment through the Kubernetes API with the official ``kubernetes`` client."""

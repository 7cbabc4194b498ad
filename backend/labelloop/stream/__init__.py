"""The production stream (issue 17): items a production service posts, decided one by one
within a labelling budget, exported to Label Studio, and watched for drift.

* :mod:`labelloop.stream.validate`: the body of ``POST /api/projects/{id}/stream`` checked item
  by item (pure);
* :mod:`labelloop.stream.ingest`: scoring, the decision and the one write transaction per batch;
* :mod:`labelloop.stream.screen_cache`: each project's screening model, loaded once per version;
* :mod:`labelloop.stream.status`, :mod:`labelloop.stream.drift_job`: what /status shows, drift.

Nothing is imported here: importing one module does not import the others.
"""

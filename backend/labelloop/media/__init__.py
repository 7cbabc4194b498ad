"""Media bytes from every value form Label Studio stores (docs/architecture.md, "Media").

Light on purpose: the records only. The fetcher (httpx, a thread pool) is imported from
:mod:`labelloop.media.fetch` by the paths that need bytes::

    from labelloop.media.fetch import MediaFetcher

    with MediaFetcher(settings) as fetcher:
        media = fetcher.fetch(task.data["image"], task_id=task.id, project_id=p.id, kind="image")
        results = fetcher.fetch_many(values, task_ids=ids, project_id=p.id, kind="audio")
"""

from labelloop.media.types import Media, MediaKind, MediaSkip, MediaSkipped, SkipCode, SourceKind

__all__ = ["Media", "MediaKind", "MediaSkip", "MediaSkipped", "SkipCode", "SourceKind"]

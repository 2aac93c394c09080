"""Result images of finished sandbox tasks, drawn on request at the size the task's inputs ask for.

The size comes from sizes.output_size (resolution, quality, aspect ratio, named sizes…), the
picture from art.artwork_png; a task's first input image, when it is one of the sandbox's own
uploads, is the picture an edit model works on.
"""

import hashlib
import threading
from collections import OrderedDict

from .art import artwork_png, source_image
from .sizes import output_size

# Fields of the seed schemas that carry input images, in the order KIE reads them.
IMAGE_FIELDS = ("image_urls", "input_urls", "image_input", "reference_image_urls", "image_url", "image")
# Drawn results kept for the pipeline's download; a 4K PNG is about 1 MB, so this holds dozens.
CACHE_BYTES = 48 * 1024 * 1024


def input_image_urls(data):
    """Return the input image URLs of a createTask `input`, first field first."""
    urls = []
    for name in IMAGE_FIELDS:
        value = data.get(name)
        for url in value if isinstance(value, list) else [value]:
            if isinstance(url, str) and url:
                urls.append(url)
    return urls


class PngCache:
    """The latest drawn PNGs by key, forgetting the oldest beyond `limit` bytes in all."""

    def __init__(self, limit=CACHE_BYTES):
        self.limit = limit
        self._items = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            return None

    def put(self, key, png):
        with self._lock:
            if key in self._items:
                return
            self._items[key] = png
            self._bytes += len(png)
            while self._bytes > self.limit and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= len(old)


_cache = PngCache()


def task_label(task, index):
    """The small line under the prompt: where the image came from, and which of the set it is."""
    count = f" · {index}/{task.image_count}" if task.image_count > 1 else ""
    return f"KIE sandbox · {task.model}{count}"


def task_png(task, index, source=None):
    """Return PNG bytes of image `index` of a finished SandboxTask.

    `source` is the bytes of the task's first input image when the sandbox holds them. Results
    are drawn on request, not stored, so memory stays bounded whatever the traffic. The picture
    depends only on what it is drawn from, so the cache is keyed by that, not by task: the
    pipeline's download, and every task (or test) repeating a prompt, reuse one drawing.
    """
    image = source_image(source) if source else None
    size = output_size(task.model, task.input, input_size=image.size if image else None)
    prompt, label = str(task.input.get("prompt", "")), task_label(task, index)
    digest = hashlib.sha256(source).hexdigest() if image else ""
    key = (task.model, prompt, index, task.image_count, size, label, digest)
    png = _cache.get(key)
    if png is None:
        png = artwork_png(
            model=task.model,
            prompt=prompt,
            size=size,
            index=index,
            total=task.image_count,
            label=label,
            source=image,
        )
        _cache.put(key, png)
    return png

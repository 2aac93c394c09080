"""Result images through S3 (moto's server over real HTTP): stored in the bucket, served by signed URL.

The same code path as production with AWS_STORAGE_BUCKET_NAME: django-storages' S3Storage, boto3,
a private bucket, presigned URLs in the API. `make test-cluster` does the same across hosts.
"""

import boto3
import pytest
import requests
from django.core.management import call_command
from moto.server import ThreadedMotoServer

from generation import pipeline, services
from generation.models import Generation, Status

from .conftest import wait_for

FAST = "google/imagen4-fast"
BUCKET = "artio-test-images"


@pytest.fixture
def s3(settings, monkeypatch):
    """Point default storage at a bucket on a moto server; yield a boto3 client for it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_ENDPOINT_URL = endpoint
    # Changing STORAGES makes Django drop the default storage it built, so the next use is S3's.
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "storages.backends.s3.S3Storage"}}
    try:
        yield client
    finally:
        server.stop()


def _bucket_keys(client):
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


@pytest.mark.django_db
def test_results_go_to_the_bucket_and_the_api_serves_signed_urls(alice, fund, kie, tasks, s3, media, client):
    fund(alice, 50)
    tasks.run = False
    generation = services.generation_create(
        user=alice, model_slug=FAST, data={"prompt": "a fox in S3", "num_images": 2}
    )
    pipeline.generations_dispatch(max_seconds=5)
    generation.refresh_from_db()
    wait_for(lambda: kie.tasks[generation.kie_task_id].finished)
    pipeline.generation_refresh(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Status.SUCCEEDED
    images = list(generation.images.all())
    assert len(images) == 2
    # Every file and thumbnail is an object in the bucket; nothing was written under MEDIA_ROOT.
    assert {n for i in images for n in (i.file.name, i.thumbnail.name)} <= _bucket_keys(s3)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))
    # The partner API answers presigned URLs to the bucket, which serve the very bytes stored.
    from artio.services import api_key_create

    _key, raw = api_key_create(user=alice, name="s3")
    body = client.get(
        f"/api/v1/generations/{generation.public_id}", HTTP_AUTHORIZATION=f"Bearer {raw}"
    ).json()
    for listed, image in zip(body["images"], images, strict=True):
        assert listed["url"].startswith(s3.meta.endpoint_url) and "X-Amz-Signature=" in listed["url"]
        answer = requests.get(listed["url"], timeout=10)
        assert answer.status_code == 200
        assert answer.content == s3.get_object(Bucket=BUCKET, Key=image.file.name)["Body"].read()
        assert len(answer.content) == image.bytes


@pytest.mark.django_db
def test_generate_command_prints_signed_links_with_s3(alice, fund, kie, tasks, s3, capsys):
    # `.path` does not exist on S3: the command used to crash here after the work was done.
    fund(alice, 50)
    tasks.run = False
    call_command("generate", "alice@example.com", FAST, "--input", '{"prompt": "a fox"}', "--wait")
    links = [line for line in capsys.readouterr().out.splitlines() if line.startswith("image: ")]
    assert len(links) == 1 and links[0].startswith(f"image: {s3.meta.endpoint_url}/{BUCKET}/generations/")
    assert Generation.objects.get().status == Status.SUCCEEDED

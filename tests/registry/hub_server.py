"""A local stand-in for the Hugging Face Hub, for tests only (no Hub is reachable here).

It implements, in memory, just the HTTP endpoints that the real `huggingface_hub` client (and
`datasets` through `HfFileSystem`) call for our push / pull / load paths:

    POST /api/repos/create                         create a dataset repo (409 when it exists)
    POST /api/validate-yaml                        README front matter check (always fine)
    GET  /api/datasets/{repo}/refs                 branches and tags
    POST /api/datasets/{repo}/preupload/{rev}      answers "regular" for every file (so the client
                                                   sends contents inline in the commit; the real Hub
                                                   would route parquet through LFS/Xet storage)
    POST /api/datasets/{repo}/commit/{rev}         ndjson commit: header, file, deletedFile/Folder
    POST /api/datasets/{repo}/tag/{rev}            create a tag
    GET  /api/datasets/{repo}[/revision/{rev}]     repo info (sha, siblings)
    GET  /api/datasets/{repo}/tree/{rev}[/{path}]  tree listing (?recursive=true)
    POST /api/datasets/{repo}/paths-info/{rev}     info for given paths
    HEAD|GET /datasets/{repo}/resolve/{rev}/{path} file download (with X-Repo-Commit / ETag, Range)

`HubStandIn.fail` injects faults: {"commit": 500} makes the next commits fail, {"tag": 500} the tags.
`HubStandIn.drop` drops connections, keyed by endpoint (the handler's name: "commit", "tag", "info",
"resolve", ...): "before" reads the request and closes without acting or answering; "after" acts
(the commit or tag is made) and closes without answering; "mid-body" acts and sends the headers and
half the body, then closes; "mid-upload" reads half the request body and closes. Both apply to
every matching request until cleared.
Writes need `Authorization: Bearer <one of tokens>`. `requests` records (method, path) of every call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def _blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> full snapshot
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    private: bool = False

    def resolve(self, rev: str) -> str | None:
        if rev in self.commits:
            return rev
        return self.branches.get(rev) or self.tags.get(rev)


class HubStandIn:
    """Start with `with HubStandIn() as hub: ... hub.url ...`."""

    def __init__(self, tokens: tuple[str, ...] = ("hf_testtoken_0123456789abcdefghij",)):
        self.tokens = set(tokens)
        self.repos: dict[str, Repo] = {}
        self.fail: dict[str, int] = {}
        self.drop: dict[str, str] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._counter = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def new_commit(self, repo: Repo, files: dict[str, bytes]) -> str:
        self._counter += 1
        sha = hashlib.sha1(f"{self._counter}:{sorted(files)}".encode()).hexdigest()
        repo.commits[sha] = files
        return sha


_REPO = r"(?P<repo>[^/]+/[^/]+)"


def _handler(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        # --- plumbing ---------------------------------------------------------------------------
        def _send(self, status: int, body: object = b"", headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            drop = getattr(self, "_drop", None)
            if drop == "after":
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header(
                "Content-Type",
                "application/json" if not isinstance(body, bytes) else "application/octet-stream",
            )
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if drop == "mid-body":
                self.wfile.write(data[: len(data) // 2])
                self.close_connection = True
            elif self.command != "HEAD":
                self.wfile.write(data)

        def _error(self, status: int, message: str, extra: dict[str, str] | None = None) -> None:
            self._send(status, {"error": message}, {"X-Error-Message": message, **(extra or {})})

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorized(self) -> bool:
            auth = self.headers.get("Authorization", "")
            return auth.startswith("Bearer ") and auth[7:] in hub.tokens

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = unquote(parts.path), parse_qs(parts.query)
            hub.requests.append((method, path))
            for pattern, verb, fn in ROUTES:
                m = re.fullmatch(pattern, path)
                if m and verb == method:
                    self._drop = hub.drop.get(fn.__name__)
                    if self._drop in ("before", "mid-upload"):
                        size = int(self.headers.get("Content-Length") or 0)
                        self.rfile.read(size if self._drop == "before" else size // 2)
                        self.close_connection = True
                        return None
                    with hub.lock:
                        return fn(self, query, **m.groupdict())
            self._error(404, f"stand-in has no route {method} {path}")

        def do_GET(self) -> None:
            self._route("GET")

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_POST(self) -> None:
            self._route("POST")

        def _repo(self, repo: str) -> Repo | None:
            found = hub.repos.get(repo)
            if found is None:
                self._error(404, "Repository not found", {"X-Error-Code": "RepoNotFound"})
            return found

        def _commit_of(self, repo: Repo, rev: str) -> str | None:
            sha = repo.resolve(rev)
            if sha is None:
                self._error(404, f"Invalid rev id: {rev}", {"X-Error-Code": "RevisionNotFound"})
            return sha

        # --- endpoints --------------------------------------------------------------------------
        def create_repo(self, query: dict) -> None:
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            payload = json.loads(self._body())
            repo_id = (
                f"{payload['organization']}/{payload['name']}"
                if payload.get("organization")
                else payload["name"]
            )
            if repo_id in hub.repos:
                # The Hub answers 409 with the repo's url; the client reads it when exist_ok=True.
                message = "You already created this dataset repo"
                return self._send(
                    409,
                    {"error": message, "url": f"{hub.url}/datasets/{repo_id}"},
                    {"X-Error-Message": message},
                )
            repo = Repo(private=payload.get("visibility") == "private")
            repo.branches["main"] = hub.new_commit(repo, {".gitattributes": GITATTRIBUTES})
            hub.repos[repo_id] = repo
            self._send(200, {"url": f"{hub.url}/datasets/{repo_id}", "name": repo_id})

        def validate_yaml(self, query: dict) -> None:
            self._body()
            self._send(200, {"errors": [], "warnings": []})

        def refs(self, query: dict, repo: str) -> None:
            if (r := self._repo(repo)) is None:
                return
            ref = lambda kind, name, sha: {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": sha}  # noqa: E731
            self._send(
                200,
                {
                    "branches": [ref("heads", n, s) for n, s in r.branches.items()],
                    "tags": [ref("tags", n, s) for n, s in r.tags.items()],
                    "converts": [],
                },
            )

        def preupload(self, query: dict, repo: str, rev: str) -> None:
            files = json.loads(self._body())["files"]
            if (r := self._repo(repo)) is None:
                return
            snapshot = r.commits.get(r.resolve(rev) or "", {})
            answer = [
                {
                    "path": f["path"],
                    "uploadMode": "regular",
                    "shouldIgnore": False,
                    "oid": _blob_oid(snapshot[f["path"]]) if f["path"] in snapshot else None,
                }
                for f in files
            ]
            self._send(200, {"files": answer})

        def commit(self, query: dict, repo: str, rev: str) -> None:
            lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            if "commit" in hub.fail:
                return self._error(hub.fail["commit"], "stand-in: injected commit failure")
            if (r := self._repo(repo)) is None or (parent := self._commit_of(r, rev)) is None:
                return
            header = lines[0]["value"]
            if header.get("parentCommit") and header["parentCommit"] != parent:
                return self._error(412, "A commit has happened since. Please refresh and try again.")
            files = dict(r.commits[parent])
            for op in lines[1:]:
                value = op["value"]
                if op["key"] == "file":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif op["key"] == "deletedFile":
                    files.pop(value["path"], None)
                elif op["key"] == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: d for p, d in files.items() if not p.startswith(prefix)}
                else:
                    return self._error(400, f"stand-in does not support {op['key']}")
            sha = hub.new_commit(r, files)
            r.branches[rev] = sha
            self._send(
                200,
                {"commitUrl": f"{hub.url}/datasets/{repo}/commit/{sha}", "commitOid": sha, "success": True},
            )

        def tag(self, query: dict, repo: str, rev: str) -> None:
            payload = json.loads(self._body())
            if not self._authorized():
                return self._error(401, "Invalid credentials in Authorization header")
            if "tag" in hub.fail:
                return self._error(hub.fail["tag"], "stand-in: injected tag failure")
            if (r := self._repo(repo)) is None or (sha := self._commit_of(r, rev)) is None:
                return
            if payload["tag"] in r.tags:
                return self._error(409, f"Tag {payload['tag']} already exists")
            r.tags[payload["tag"]] = sha
            self._send(200, {})

        def info(self, query: dict, repo: str, rev: str = "main") -> None:
            if (r := self._repo(repo)) is None or (sha := self._commit_of(r, rev)) is None:
                return
            siblings = [{"rfilename": p} for p in sorted(r.commits[sha])]
            self._send(
                200,
                {
                    "id": repo,
                    "_id": repo,
                    "sha": sha,
                    "private": r.private,
                    "siblings": siblings,
                    "lastModified": "2025-01-01T00:00:00.000Z",
                    "tags": [],
                    "downloads": 0,
                    "likes": 0,
                },
            )

        def _entries(self, files: dict[str, bytes], under: str, recursive: bool) -> list[dict]:
            prefix = under.strip("/") + "/" if under.strip("/") else ""
            out: dict[str, dict] = {}
            for path, data in sorted(files.items()):
                if not path.startswith(prefix):
                    continue
                rest = path[len(prefix) :].split("/")
                for depth in range(1, len(rest)):  # folders on the way
                    folder = prefix + "/".join(rest[:depth])
                    if recursive or depth == 1:
                        out.setdefault(
                            folder,
                            {
                                "type": "directory",
                                "oid": _blob_oid(folder.encode()),
                                "size": 0,
                                "path": folder,
                            },
                        )
                if recursive or len(rest) == 1:
                    out[path] = {"type": "file", "oid": _blob_oid(data), "size": len(data), "path": path}
            return list(out.values())

        def tree(self, query: dict, repo: str, rev: str, path: str | None = None) -> None:
            path = path or ""
            if (r := self._repo(repo)) is None or (sha := self._commit_of(r, rev)) is None:
                return
            files = r.commits[sha]
            if path.strip("/") and not any(p.startswith(path.strip("/") + "/") for p in files):
                return self._error(404, f"{path} not found", {"X-Error-Code": "EntryNotFound"})
            recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
            self._send(200, self._entries(files, path, recursive))

        def paths_info(self, query: dict, repo: str, rev: str) -> None:
            raw = self._body()
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                paths = json.loads(raw).get("paths", [])
            else:
                paths = parse_qs(raw.decode()).get("paths", [])
            if (r := self._repo(repo)) is None or (sha := self._commit_of(r, rev)) is None:
                return
            files = r.commits[sha]
            everything = {e["path"]: e for e in self._entries(files, "", recursive=True)}
            self._send(200, [everything[p.strip("/")] for p in paths if p.strip("/") in everything])

        def resolve(self, query: dict, repo: str, rev: str, path: str) -> None:
            if (r := self._repo(repo)) is None or (sha := self._commit_of(r, rev)) is None:
                return
            if path not in r.commits[sha]:
                return self._error(
                    404, "Entry not found", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha}
                )
            data = r.commits[sha][path]
            headers = {"X-Repo-Commit": sha, "ETag": f'"{_blob_oid(data)}"', "Accept-Ranges": "bytes"}
            rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
            if rng and self.command == "GET":
                start, end = int(rng[1]), int(rng[2]) if rng[2] else len(data) - 1
                headers["Content-Range"] = f"bytes {start}-{min(end, len(data) - 1)}/{len(data)}"
                return self._send(206, data[start : end + 1], headers)
            self._send(200, data, headers)

    ROUTES: list[tuple[str, str, Callable[..., None]]] = [
        (r"/api/repos/create", "POST", Handler.create_repo),
        (r"/api/validate-yaml", "POST", Handler.validate_yaml),
        (rf"/api/datasets/{_REPO}/refs", "GET", Handler.refs),
        (rf"/api/datasets/{_REPO}/preupload/(?P<rev>[^/]+)", "POST", Handler.preupload),
        (rf"/api/datasets/{_REPO}/commit/(?P<rev>[^/]+)", "POST", Handler.commit),
        (rf"/api/datasets/{_REPO}/tag/(?P<rev>[^/]+)", "POST", Handler.tag),
        (rf"/api/datasets/{_REPO}/revision/(?P<rev>[^/]+)", "GET", Handler.info),
        (rf"/api/datasets/{_REPO}", "GET", Handler.info),
        (rf"/api/datasets/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "GET", Handler.tree),
        (rf"/api/datasets/{_REPO}/paths-info/(?P<rev>[^/]+)", "POST", Handler.paths_info),
        (rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "GET", Handler.resolve),
        (rf"/datasets/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "HEAD", Handler.resolve),
    ]
    return Handler

"""The object page: handling banner, versions, relationships, sightings, sources,
corroboration of its values, and the related-objects cluster as a graph."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from cyberfusion.ai.similar import DOCUMENT_TYPES
from cyberfusion.errors import InvalidInput
from cyberfusion.ingest.observables import observables_of
from cyberfusion.intel import service as intel
from cyberfusion.web import service as web
from cyberfusion.web.render import page
from cyberfusion.web.routing import CurrentViewer, Db, Purpose, WebRoute

router = APIRouter(route_class=WebRoute, include_in_schema=False)
MAX_VALUES = 5
GRAPH_NODES = 40


def layout(cluster: dict[str, Any], *, size: int = 420) -> dict[str, Any]:
    """Rings by hop distance around the object: coordinates for a static SVG (no script needed)."""
    centre = size / 2
    rings: dict[int, list[dict[str, Any]]] = {}
    for node in cluster["nodes"]:
        rings.setdefault(node["depth"], []).append(node)
    pos: dict[str, tuple[float, float]] = {}
    nodes = []
    for depth, members in sorted(rings.items()):
        radius = 0 if depth == 0 else min(centre - 30, 70 * depth + 20)
        for i, node in enumerate(members):
            angle = 2 * math.pi * i / max(1, len(members)) - math.pi / 2
            x, y = centre + radius * math.cos(angle), centre + radius * math.sin(angle)
            pos[node["id"]] = (round(x, 1), round(y, 1))
            label = node.get("name") or node["type"]
            nodes.append({"id": node["id"], "x": pos[node["id"]][0], "y": pos[node["id"]][1],
                          "label": label if len(label) <= 28 else label[:27] + "…", "root": depth == 0})
    edges = [{"x1": pos[e["source"]][0], "y1": pos[e["source"]][1], "x2": pos[e["target"]][0],
              "y2": pos[e["target"]][1]} for e in cluster["edges"] if e["source"] in pos and e["target"] in pos]
    names = {n["id"]: n.get("name") or n["type"] for n in cluster["nodes"]}
    return {"size": size, "nodes": nodes, "edges": edges, "names": names}


@router.get("/objects/{stix_id}")
def object_page(request: Request, stix_id: str, db: Db, viewer: CurrentViewer, purpose: Purpose,
                version: str | None = None) -> Response:
    data = intel.get_object(db, viewer=viewer, purpose=purpose, stix_id=stix_id, version=version)
    obj = data["object"]
    rels = [r for r in data["relationships"] if r["type"] != "sighting"]
    sightings = [r for r in data["relationships"] if r["type"] == "sighting"]
    ends = sorted({r[k] for r in data["relationships"] for k in ("source_ref", "target_ref")
                   if r.get(k) and r[k] != stix_id})
    labels = web.object_labels(db, viewer=viewer, purpose=purpose, stix_ids=ends)
    kinds = web.relationship_types(db, viewer=viewer, purpose=purpose, stix_ids=[r["id"] for r in rels])

    from cyberfusion.fusion import correlate
    settings = request.app.state.settings
    values = []
    for kind, value in list(dict.fromkeys(observables_of(obj)))[:MAX_VALUES]:
        try:
            c = correlate.correlations(db, viewer=viewer, purpose=purpose, value=value, kind=kind, settings=settings)
        except InvalidInput:
            continue
        values.append({"kind": kind, "value": value, "corroboration": c["corroboration"],
                       "first_seen": c["first_seen"], "last_seen": c["last_seen"], "sightings": c["sightings"],
                       "warninglists": c["warninglists"]})
    cluster = correlate.related(db, viewer=viewer, purpose=purpose, stix_id=stix_id, depth=2,
                                max_nodes=GRAPH_NODES, settings=settings)
    return page(request, "object.html", {
        "data": data, "obj": obj, "rels": rels, "sightings": sightings, "labels": labels, "kinds": kinds,
        "values": values, "cluster": cluster, "graph": layout(cluster), "stix_id": stix_id, "version": version,
        "purpose": purpose, "document_types": DOCUMENT_TYPES}, title=obj.get("name") or stix_id)

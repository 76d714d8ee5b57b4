// The county map as SVG drawn from /api/v1/network (no tiles, fonts or CDNs): an equirectangular
// projection true at 30.7°N, wheel zoom, drag pan, layer toggles, sortie routes and live markers.
import { nameOf } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const LAT0 = 30.75, LON0 = 122.6, K = 1000;  // map units: 1000 per degree of latitude
const COS = Math.cos((30.7 * Math.PI) / 180);
const M_PER_DEG_LAT = 111320;

export function project(lat, lon) { return [(lon - LON0) * COS * K, -(lat - LAT0) * K]; }

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (parent) parent.appendChild(node);
  return node;
}

const pts = (coords) => coords.map(([lon, lat]) => project(lat, lon).join(",")).join(" ");
const latLonPts = (coords) => coords.map(([lat, lon]) => project(lat, lon).join(",")).join(" ");

export const LAYERS = ["islands", "area", "nofly", "ferry", "bus", "routes", "points", "pads", "vehicles"];
const ACTIVE_STATES = new Set(["approved", "uploading", "ready", "airborne", "delivering", "returning", "landing",
  "link_lost", "failsafe", "aborted", "diverted"]);

export class MapView {
  constructor(svg, { onSelectSortie } = {}) {
    this.svg = svg;
    this.onSelectSortie = onSelectSortie || (() => {});
    this.layers = {};
    for (const name of LAYERS) this.layers[name] = el("g", { class: `layer layer-${name}`, "data-layer": name }, svg);
    this.view = { x: -150, y: -150, w: 300, h: 200 };
    this.home = null;
    this.drones = new Map();
    this.buses = new Map();
    this.selected = null;
    this._installInteraction();
    new ResizeObserver(() => this._applyView()).observe(svg);
  }

  setLayerVisible(name, visible) { this.layers[name].style.display = visible ? "" : "none"; }

  _marker(layer, lat, lon, attrs = {}) {
    const [x, y] = project(lat, lon);
    const g = el("g", { class: "marker", ...attrs }, this.layers[layer]);
    g.dataset.x = x; g.dataset.y = y;
    return g;
  }

  setNetwork(network) {
    for (const name of ["islands", "area", "nofly", "ferry", "bus", "points", "pads"]) this.layers[name].replaceChildren();
    const bounds = [Infinity, Infinity, -Infinity, -Infinity];
    const grow = ([x, y]) => { bounds[0] = Math.min(bounds[0], x); bounds[1] = Math.min(bounds[1], y);
      bounds[2] = Math.max(bounds[2], x); bounds[3] = Math.max(bounds[3], y); };
    for (const island of network.islands) {
      const rings = island.outline?.type === "Polygon" ? [island.outline.coordinates[0]]
        : island.outline?.type === "MultiPolygon" ? island.outline.coordinates.map((p) => p[0]) : [];
      for (const ring of rings) {
        const poly = el("polygon", { points: pts(ring), class: "island", "data-island-id": island.id }, this.layers.islands);
        el("title", {}, poly).textContent = nameOf(island);
        ring.forEach(([lon, lat]) => grow(project(lat, lon)));
      }
    }
    for (const feature of network.geofence?.geojson?.features || []) {
      const kind = feature.properties?.kind;
      const layer = kind === "inclusion" ? this.layers.area : this.layers.nofly;
      const cls = kind === "inclusion" ? "fence-inclusion" : "fence-exclusion";
      let shape;
      if (feature.geometry.type === "Polygon") {
        shape = el("polygon", { points: pts(feature.geometry.coordinates[0]), class: cls }, layer);
        if (kind === "inclusion") feature.geometry.coordinates[0].forEach(([lon, lat]) => grow(project(lat, lon)));
      } else if (feature.geometry.type === "Point") {
        const [lon, lat] = feature.geometry.coordinates;
        const [cx, cy] = project(lat, lon);
        shape = el("circle", { cx, cy, r: ((feature.properties.radius_m || 100) / M_PER_DEG_LAT) * K, class: cls }, layer);
      }
      if (shape) { shape.dataset.zone = kind; el("title", {}, shape).textContent = feature.properties?.name || kind; }
    }
    for (const line of network.lines) {
      const def = line.definition || {};
      const stops = line.mode === "bus" ? def.stops || [] : def.calls || [];
      const coords = stops.map((s) => [s.lat_deg, s.lon_deg]);
      const poly = el("polyline", { points: latLonPts(coords), class: `line line-${line.mode}`, "data-line-id": line.id },
        line.mode === "bus" ? this.layers.bus : this.layers.ferry);
      el("title", {}, poly).textContent = nameOf(line);
    }
    const lockerAt = new Set(network.lockers.filter((l) => l.service_point_id).map((l) => l.service_point_id));
    for (const p of network.service_points) {
      const g = this._marker("points", p.lat_deg, p.lon_deg, { "data-point-id": p.id, class: `marker point point-${p.kind}` });
      el("circle", { r: p.kind === "county_centre" ? 6 : p.kind === "village_point" ? 3.5 : 5 }, g);
      if (lockerAt.has(p.id)) el("rect", { x: 4, y: -9, width: 6, height: 6, class: "locker-badge" }, g);
      el("text", { x: 8, y: 4, class: "label" }, g).textContent = nameOf(p);
    }
    for (const pad of network.pads) {
      const g = this._marker("pads", pad.lat_deg, pad.lon_deg, { "data-pad-id": pad.id, class: "marker pad" });
      el("rect", { x: -4, y: -4, width: 8, height: 8 }, g);
      el("text", { x: 0, y: 2.5, class: "pad-h" }, g).textContent = "H";
      el("title", {}, g).textContent = nameOf(pad);
    }
    const pad = 0.06 * Math.max(bounds[2] - bounds[0], bounds[3] - bounds[1]);
    this.home = { x: bounds[0] - pad, y: bounds[1] - pad, w: bounds[2] - bounds[0] + 2 * pad, h: bounds[3] - bounds[1] + 2 * pad };
    this.resetView();
  }

  /** Draw every sortie's route: planned dashed, active solid; click selects. */
  setSorties(sorties) {
    this.layers.routes.replaceChildren();
    for (const s of sorties) {
      if (!s.route?.length) continue;
      const active = ACTIVE_STATES.has(s.state);
      const line = el("polyline", {
        points: latLonPts(s.route), class: `route ${active ? "route-active" : "route-planned"}${s.id === this.selected ? " selected" : ""}`,
        "data-sortie-id": s.id, "data-state": s.state,
      }, this.layers.routes);
      el("title", {}, line).textContent = `${s.id} ${s.drone_name}`;
      line.addEventListener("click", (e) => { e.stopPropagation(); this.onSelectSortie(s.id); });
      if (s.position) this.updateVehicle({ drone_id: s.drone_id, sortie_id: s.id, ...s.position }, s.drone_name);
    }
  }

  select(id) {
    this.selected = id;
    this.layers.routes.querySelectorAll(".route").forEach((r) => r.classList.toggle("selected", r.dataset.sortieId === id));
    const chosen = this.layers.routes.querySelector(`[data-sortie-id="${CSS.escape(id || "")}"]`);
    if (chosen) this.layers.routes.appendChild(chosen);  // on top
  }

  _moveMarker(g, lat, lon) {
    const [x, y] = project(lat, lon);
    g.dataset.x = x; g.dataset.y = y; g.dataset.lat = lat; g.dataset.lon = lon;
    this._placeMarker(g);
  }

  /** Move (or create) a drone marker from a ``vehicle`` event. */
  updateVehicle(v, label) {
    if (typeof v.lat_deg !== "number" || typeof v.lon_deg !== "number") return;
    let g = this.drones.get(v.drone_id);
    if (!g) {
      g = el("g", { class: "marker drone", "data-drone-id": v.drone_id }, this.layers.vehicles);
      el("path", { d: "M0,-9 L6,6 L0,3 L-6,6 Z" }, g);
      el("text", { x: 9, y: -6, class: "label drone-label" }, g);
      this.drones.set(v.drone_id, g);
    }
    if (label) g.querySelector("text").textContent = label;
    g.dataset.sortieId = v.sortie_id || "";
    g.dataset.mode = v.mode || "";
    this._moveMarker(g, v.lat_deg, v.lon_deg);
  }

  /** Move (or create) a bus marker from a ``bus``/``locker`` event that carries a position. */
  updateBus(id, lat, lon, label) {
    let g = this.buses.get(id);
    if (!g) {
      g = el("g", { class: "marker bus", "data-bus-id": id }, this.layers.vehicles);
      el("rect", { x: -6, y: -4, width: 12, height: 8, rx: 2 }, g);
      el("text", { x: 8, y: 4, class: "label" }, g).textContent = label || id;
      this.buses.set(id, g);
    }
    this._moveMarker(g, lat, lon);
  }

  // --- view ---------------------------------------------------------------------------------------
  resetView() { if (this.home) { this.view = { ...this.home }; this._applyView(); } }

  _scale() {
    const r = this.svg.getBoundingClientRect();
    if (!r.width || !r.height) return 1;
    return Math.max(this.view.w / r.width, this.view.h / r.height);
  }

  _placeMarker(g) { g.setAttribute("transform", `translate(${g.dataset.x},${g.dataset.y}) scale(${this._markerScale || 1})`); }

  _applyView() {
    const { x, y, w, h } = this.view;
    this.svg.setAttribute("viewBox", `${x} ${y} ${w} ${h}`);
    this._markerScale = this._scale();
    this.svg.querySelectorAll(".marker").forEach((g) => this._placeMarker(g));
    this.svg.dataset.zoom = this.home ? (this.home.w / w).toFixed(3) : "1";
  }

  _toUnits(clientX, clientY) {
    const r = this.svg.getBoundingClientRect();
    const s = this._scale();
    // preserveAspectRatio xMidYMid meet: the view is centred in the element
    const ox = (r.width - this.view.w / s) / 2, oy = (r.height - this.view.h / s) / 2;
    return [this.view.x + (clientX - r.left - ox) * s, this.view.y + (clientY - r.top - oy) * s];
  }

  zoomAt(clientX, clientY, factor) {
    const [ux, uy] = this._toUnits(clientX, clientY);
    const w = Math.min(Math.max(this.view.w / factor, 2), (this.home?.w || 300) * 4);
    const f = w / this.view.w;
    this.view = { x: ux - (ux - this.view.x) * f, y: uy - (uy - this.view.y) * f, w, h: this.view.h * f };
    this._applyView();
  }

  _installInteraction() {
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      this.zoomAt(e.clientX, e.clientY, e.deltaY < 0 ? 1.25 : 0.8);
    }, { passive: false });
    let start = null;
    this.svg.addEventListener("pointerdown", (e) => {
      start = { x: e.clientX, y: e.clientY, view: { ...this.view }, id: e.pointerId };
      this._dragged = false;
      this._suppressClick = false;
    });
    this.svg.addEventListener("pointermove", (e) => {
      if (!start) return;
      const dx = e.clientX - start.x, dy = e.clientY - start.y;
      if (!this._dragged && Math.hypot(dx, dy) < 4) return;
      if (!this._dragged) { this._dragged = true; this.svg.setPointerCapture(start.id); this.svg.classList.add("panning"); }
      const s = this._scale();
      this.view = { ...start.view, x: start.view.x - dx * s, y: start.view.y - dy * s };
      this._applyView();
    });
    const end = () => { start = null; this._suppressClick = this._dragged; this.svg.classList.remove("panning"); };
    // The click that ends a drag is not a click on whatever lies under the pointer.
    this.svg.addEventListener("click", (e) => {
      if (this._suppressClick) { e.stopPropagation(); this._suppressClick = false; }
    }, true);
    this.svg.addEventListener("pointerup", end);
    this.svg.addEventListener("pointercancel", end);
  }
}

/* The search page of balise: autocomplete on /search/, a list and markers, /reverse/ on a click.
   With a POI index served, the Géoplateforme API (under the page's data-geocodage prefix)
   searches points of interest, or both kinds merged, and a click finds the nearest place.
   Plain JavaScript over Leaflet (vendored in /static/leaflet/); texts from the answers are set
   with textContent, never as HTML. */
"use strict";

(function () {
  const DEBOUNCE_MS = 250;
  const LIMIT = 10;
  const $ = (id) => document.getElementById(id);
  const query = $("q"), type = $("type"), postcode = $("postcode"), inView = $("in-view");
  const kind = $("kind"), category = $("category");
  const list = $("results"), status = $("status");
  const reversePanel = $("reverse"), reverseLabel = $("reverse-label"), reverseTitle = $("reverse-title");
  const geocodage = document.body.dataset.geocodage;

  const map = L.map("map").setView([46.6, 2.4], 6);
  const tiles = document.body.dataset.tilesUrl;
  if (tiles) {
    L.tileLayer(tiles, {maxZoom: 19, attribution: document.body.dataset.tilesAttribution}).addTo(map);
  }
  const markers = L.featureGroup().addTo(map);
  const picked = L.layerGroup().addTo(map);
  window.balise = {map: map, markers: markers};  // for the browser test, and the curious

  let timer = null;
  let pending = null;  // the AbortController of the search in flight

  function text(tag, value, className) {
    const element = document.createElement(tag);
    element.textContent = value;
    if (className) element.className = className;
    return element;
  }

  function clamp(value, low, high) {
    return Math.min(high, Math.max(low, value));
  }

  function first(value) {
    return Array.isArray(value) ? value[0] : value;
  }

  function visibleBox() {
    const b = map.getBounds();
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
            clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(6)).join(",");
  }

  function pointsOfInterest() {
    return Boolean(kind.value);
  }

  function filters(params) {
    if (type.value) params.set("type", type.value);
    const codes = postcode.value.trim();
    if (codes) params.set("postcode", pointsOfInterest() ? codes.split(/\s+/)[0] : codes);
    if (pointsOfInterest() && category.value) params.set("category", category.value);
  }

  async function getJson(path, params) {
    const response = await fetch(path + "?" + params, {headers: {Accept: "application/json"},
                                                        signal: pending && pending.signal});
    const body = await response.json();
    if (!response.ok) {
      throw new Error(body.description || (body.detail && body.detail.join("; ")) || body.title ||
                      body.message || response.statusText);
    }
    return body;
  }

  // A feature of either API as the list shows it: a label and a line of details.
  function describe(p) {
    if (p._type === "poi") {
      const place = [first(p.postcode), first(p.city)].filter(Boolean).join(" ");
      return {label: [first(p.name), place].filter(Boolean).join(", "),
              meta: (p.category || []).join(", ") + " · score " + p.score.toFixed(2)};
    }
    return {label: p.label, meta: p.type + " · score " + p.score.toFixed(2)};
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  }

  async function search() {
    clearTimeout(timer);
    if (pending) pending.abort();
    const q = query.value.trim();
    if (!q || (pointsOfInterest() && q.length < 3)) {  // the Géoplateforme API wants 3 characters
      show([]);
      status.textContent = "";
      return;
    }
    const params = new URLSearchParams({q: q, limit: String(LIMIT), autocomplete: "1"});
    filters(params);
    let path = "/search/";
    if (pointsOfInterest()) {
      path = geocodage + "/search";
      params.set("index", kind.value);
      if (inView.checked) {  // no box there: the centre ranks, the box filters below
        const centre = map.getCenter();
        params.set("lat", centre.lat.toFixed(6));
        params.set("lon", centre.lng.toFixed(6));
      }
    } else if (inView.checked) {
      params.set("bbox", visibleBox());
    }
    const mine = pending = new AbortController();
    status.textContent = "Searching…";
    try {
      const answer = await getJson(path, params);
      if (mine !== pending) return;  // a newer search was started meanwhile
      const bounds = map.getBounds();
      const found = answer.features.filter((f) => !inView.checked || !pointsOfInterest() ||
        bounds.contains(L.latLng(f.geometry.coordinates[1], f.geometry.coordinates[0])));
      show(found);
      status.textContent = found.length ? "" : "Nothing found.";
    } catch (error) {
      if (error.name !== "AbortError" && mine === pending) status.textContent = "Search failed: " + error.message;
    }
  }

  function show(features) {
    list.replaceChildren();
    markers.clearLayers();
    features.forEach((feature, i) => {
      const [lon, lat] = feature.geometry.coordinates;
      const shown = describe(feature.properties);
      const marker = L.marker([lat, lon], {title: shown.label, alt: shown.label})
        .bindPopup(() => text("span", shown.label));
      markers.addLayer(marker);
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.lon = lon;
      button.dataset.lat = lat;
      button.append(text("span", shown.label, "label"), text("span", shown.meta, "meta"));
      button.addEventListener("click", () => {
        map.setView([lat, lon], Math.max(map.getZoom(), 16));
        marker.openPopup();
      });
      const item = document.createElement("li");
      item.append(button);
      list.append(item);
      if (i === 0) item.classList.add("first");
    });
    if (features.length && !inView.checked) {
      map.fitBounds(markers.getBounds(), {maxZoom: 16, padding: [30, 30]});
    }
  }

  async function reverse(latlng) {
    const params = new URLSearchParams({lat: latlng.lat.toFixed(6), lon: latlng.lng.toFixed(6)});
    const poi = kind.value === "poi";
    if (poi) {
      params.set("index", "poi");
      params.set("limit", "1");
      if (category.value) params.set("category", category.value);
    } else {
      filters(params);
    }
    picked.clearLayers();
    reversePanel.hidden = false;
    reverseTitle.textContent = poi ? "Nearest place of interest" : "Nearest address";
    reverseLabel.textContent = "Looking…";
    try {
      const answer = await fetch((poi ? geocodage + "/reverse" : "/reverse/") + "?" + params,
                                 {headers: {Accept: "application/json"}});
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.description || body.title || (body.detail || []).join("; "));
      const feature = body.features[0];
      if (!feature) {
        reverseLabel.textContent = poi ? "Nothing within 200 m." : "Nothing here.";
        return;
      }
      const [lon, lat] = feature.geometry.coordinates;
      const p = feature.properties;
      const shown = describe(p);
      const what = poi ? (p.category || []).join(", ") : p.type;
      reverseLabel.textContent = shown.label + " (" + what + ", " + p.distance + " m)";
      L.circleMarker([lat, lon], {radius: 8, className: "picked"}).addTo(picked)
        .bindPopup(() => text("span", shown.label)).openPopup();
    } catch (error) {
      reverseLabel.textContent = "Reverse failed: " + error.message;
    }
  }

  // The Géoplateforme API says what it serves: with a POI index, its kinds and categories.
  async function discover() {
    if (!geocodage) return;
    try {
      const response = await fetch(geocodage + "/getCapabilities", {headers: {Accept: "application/json"}});
      const capabilities = await response.json();
      const poi = (capabilities.indexes || []).find((index) => index.id === "poi");
      if (!poi) return;
      const values = (poi.fields.find((f) => f.name === "category") || {}).values || {};
      const names = new Set();
      Object.entries(values).forEach(([main, others]) => [main, ...others].forEach((n) => names.add(n)));
      [...names].sort().forEach((name) => category.append(new Option(name, name)));
      kind.hidden = false;
    } catch (error) {
      // without the API, the page searches addresses only
    }
  }

  function switchKind() {
    const poi = pointsOfInterest();
    category.hidden = !poi;
    type.hidden = kind.value === "poi";
    if (kind.value === "poi") type.value = "";
    $("hint").textContent = kind.value === "poi" ? "Click the map for the nearest place of interest."
      : "Click the map for the nearest address.";
    search();
  }

  query.addEventListener("input", schedule);
  postcode.addEventListener("input", schedule);
  type.addEventListener("change", search);
  kind.addEventListener("change", switchKind);
  category.addEventListener("change", search);
  inView.addEventListener("change", search);
  map.on("moveend", () => { if (inView.checked && query.value.trim()) schedule(); });
  map.on("click", (event) => reverse(event.latlng));
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
  discover();
})();

/* The search page of balise: autocomplete on /search/, a list and markers, /reverse/ on a click.
   Plain JavaScript over Leaflet (vendored in /static/leaflet/); texts from the answers are set
   with textContent, never as HTML. */
"use strict";

(function () {
  const DEBOUNCE_MS = 250;
  const LIMIT = 10;
  const $ = (id) => document.getElementById(id);
  const query = $("q"), type = $("type"), postcode = $("postcode"), inView = $("in-view");
  const list = $("results"), status = $("status");
  const reversePanel = $("reverse"), reverseLabel = $("reverse-label");

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

  function visibleBox() {
    const b = map.getBounds();
    return [clamp(b.getWest(), -180, 180), clamp(b.getSouth(), -90, 90),
            clamp(b.getEast(), -180, 180), clamp(b.getNorth(), -90, 90)].map((v) => v.toFixed(6)).join(",");
  }

  function filters(params) {
    if (type.value) params.set("type", type.value);
    const codes = postcode.value.trim();
    if (codes) params.set("postcode", codes);
  }

  async function getJson(path, params) {
    const response = await fetch(path + "?" + params, {headers: {Accept: "application/json"},
                                                        signal: pending && pending.signal});
    const body = await response.json();
    if (!response.ok) throw new Error(body.description || body.title || response.statusText);
    return body;
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  }

  async function search() {
    clearTimeout(timer);
    if (pending) pending.abort();
    const q = query.value.trim();
    if (!q) {
      show([]);
      status.textContent = "";
      return;
    }
    const params = new URLSearchParams({q: q, limit: String(LIMIT), autocomplete: "1"});
    filters(params);
    if (inView.checked) params.set("bbox", visibleBox());
    const mine = pending = new AbortController();
    status.textContent = "Searching…";
    try {
      const answer = await getJson("/search/", params);
      if (mine !== pending) return;  // a newer search was started meanwhile
      show(answer.features);
      status.textContent = answer.features.length ? "" : "Nothing found.";
    } catch (error) {
      if (error.name !== "AbortError" && mine === pending) status.textContent = "Search failed: " + error.message;
    }
  }

  function show(features) {
    list.replaceChildren();
    markers.clearLayers();
    features.forEach((feature, i) => {
      const [lon, lat] = feature.geometry.coordinates;
      const p = feature.properties;
      const marker = L.marker([lat, lon], {title: p.label, alt: p.label}).bindPopup(() => text("span", p.label));
      markers.addLayer(marker);
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.lon = lon;
      button.dataset.lat = lat;
      button.append(text("span", p.label, "label"),
                    text("span", p.type + " · score " + p.score.toFixed(2), "meta"));
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
    filters(params);
    picked.clearLayers();
    reversePanel.hidden = false;
    reverseLabel.textContent = "Looking…";
    try {
      const answer = await fetch("/reverse/?" + params, {headers: {Accept: "application/json"}});
      const body = await answer.json();
      if (!answer.ok) throw new Error(body.description || body.title);
      const feature = body.features[0];
      if (!feature) {
        reverseLabel.textContent = "Nothing here.";
        return;
      }
      const [lon, lat] = feature.geometry.coordinates;
      const p = feature.properties;
      reverseLabel.textContent = p.label + " (" + p.type + ", " + p.distance + " m)";
      L.circleMarker([lat, lon], {radius: 8, className: "picked"}).addTo(picked)
        .bindPopup(() => text("span", p.label)).openPopup();
    } catch (error) {
      reverseLabel.textContent = "Reverse failed: " + error.message;
    }
  }

  query.addEventListener("input", schedule);
  postcode.addEventListener("input", schedule);
  type.addEventListener("change", search);
  inView.addEventListener("change", search);
  map.on("moveend", () => { if (inView.checked && query.value.trim()) schedule(); });
  map.on("click", (event) => reverse(event.latlng));
  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    search();
  });
})();

// Robostral teach pendant: one page, no build step. The cell's state arrives on the /ws websocket
// (JSON at 20 Hz, camera frames as binary JPEG); commands go to the JSON API with the CSRF header.
// Held motions (hold-to-jog, move here) go over the websocket with a heartbeat every HEARTBEAT_MS:
// releasing the button, hiding the tab or losing the connection stops the arm.
"use strict";

const HEARTBEAT_MS = 75;
const AXES = ["x", "y", "z"];
const $ = (id) => document.getElementById(id);
// editorActions counts the operator's actions on the program editor: a screen load or an open that began
// before the latest one leaves the editor alone, so a slow request never replaces what the operator chose.
const state = { session: null, socket: null, live: null, held: null, program: null, waypoints: [], screen: "run",
  jointNames: null, editorActions: 0 };

// ---- plumbing -------------------------------------------------------------------------------------
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (state.session && method !== "GET") headers["X-CSRF-Token"] = state.session.csrf_token;
  const text = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(path, { method, headers, body: text, credentials: "same-origin" });
  if (response.status === 204) return null;
  const json = (response.headers.get("content-type") || "").includes("json");
  const data = json ? await response.json() : await response.text();
  if (!response.ok) {
    if (response.status === 401 && state.session) loggedOut();
    throw new Error(data && data.error ? data.error : `${response.status} ${response.statusText}`);
  }
  return data;
}

let toastTimer = null;
function toast(text, error = false) {
  const box = $("toast");
  box.textContent = text;
  box.className = error ? "toast error" : "toast";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, error ? 8000 : 3000);
}

function guarded(action) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try { await action(event); } catch (error) { toast(error.message, true); }
  };
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function can(permission) { return state.session && state.session.permissions.includes(permission); }

function confirmDialog(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm");
    $("confirm-text").textContent = text;
    const done = (answer) => () => { dialog.close(); resolve(answer); };
    $("confirm-yes").onclick = done(true);
    $("confirm-no").onclick = done(false);
    dialog.showModal();
  });
}

// ---- screens and login ----------------------------------------------------------------------------
function show(screen) {
  state.screen = screen;
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== `screen-${screen}`;
  for (const tab of document.querySelectorAll("#tabs button")) tab.classList.toggle("active", tab.dataset.screen === screen);
  const loaders = { program: loadProgramScreen, policies: loadPolicies, users: loadUsers, audit: loadAudit,
    demonstrate: loadDemonstrations };
  if (loaders[screen]) guarded(loaders[screen])();
}

async function start() {
  const setup = await api("GET", "/api/setup");
  if (setup.needs_first_admin) return show("setup");
  try { loggedIn(await api("GET", "/api/session")); } catch { show("login"); }
}

function loggedIn(session) {
  state.session = session;
  $("toast").hidden = true;  // a failed attempt's message is stale once logged in
  $("who").textContent = `${session.user.name} (${session.user.role})`;
  $("tabs").hidden = $("logout").hidden = false;
  for (const node of document.querySelectorAll("[data-needs]")) {
    const allowed = can(node.dataset.needs);
    if (node.tagName === "BUTTON" && node.closest("nav")) node.hidden = !allowed; else node.disabled = !allowed;
  }
  const cap = session.jog_speed_limit;
  $("speed-cap").textContent = cap < 1 ? `As ${session.user.role} you jog at ${Math.round(cap * 100)}% of full jog speed.` : "";
  connect();
  show("run");
}

function loggedOut() {
  state.session = null;
  stopHeld();
  if (state.socket) state.socket.close();
  $("tabs").hidden = $("logout").hidden = true;
  $("who").textContent = "";
  show("login");
}

async function submitCredentials(path, form) {
  const data = Object.fromEntries(new FormData(form));
  loggedIn(await api("POST", path, { name: data.name, password: data.password }));
  form.reset();
}

// ---- live state -----------------------------------------------------------------------------------
function connect() {
  if (state.socket && state.socket.readyState <= 1) return;
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  socket.binaryType = "blob";
  state.socket = socket;
  socket.onopen = () => { $("link").textContent = "live"; $("link").className = "badge ok"; };
  socket.onclose = () => {
    $("link").textContent = "offline"; $("link").className = "badge bad";
    stopHeld();
    if (state.session) setTimeout(connect, 1000);
  };
  socket.onmessage = (event) => {
    if (event.data instanceof Blob) return showFrame(event.data);
    const message = JSON.parse(event.data);
    if (message.type === "state") render(message);
    else if (message.type === "error") { stopHeld(); toast(message.error, true); }
  };
}

function send(message) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(message));
}

// What the policy sees (its input after crop and resize), refreshed every second while its panel is open.
const POLICY_INPUT_PERIOD = 1000; // ms
setInterval(() => {
  if (state.screen === "run" && state.session && $("policy-input-panel").open) {
    $("policy-input").src = `/api/camera/policy-input?at=${Date.now()}`;
  }
}, POLICY_INPUT_PERIOD);

function showFrame(blob) {
  const image = $("camera");
  const previous = image.src;
  image.src = URL.createObjectURL(blob);
  if (state.screen === "demonstrate") $("demo-camera").src = image.src;  // the same frame, while that screen shows
  if (previous.startsWith("blob:")) URL.revokeObjectURL(previous);
}

// The page updates 20 times a second: a node is written only when a value changes (no needless layout and paint).
function set(node, property, value) { if (node[property] !== value) node[property] = value; }
function setText(node, text) { set(node, "textContent", text); }

const SAFETY_CLASS = { idle: "ok", active: "ok", holding: "warn", estopped: "bad", fault: "bad" };

function render(live) {
  state.live = live;
  const safety = live.safety;
  setText($("safety-state"), safety.state);
  setText($("safety-reason"), safety.reason + (safety.last ? ` (last: ${safety.last})` : ""));
  setText($("safety-badge"), safety.state);
  set($("safety-badge"), "className", `badge ${SAFETY_CLASS[safety.state] || ""}`);
  const percent = safety.speed_override === null ? null : Math.round(safety.speed_override * 100);
  for (const id of ["speed-value", "speed-label"]) setText($(id), percent === null ? "?" : `${percent}%`);
  if (percent !== null && document.activeElement !== $("speed")) set($("speed"), "value", String(Math.max(1, percent)));
  setText($("manual-mode"), safety.manual_mode ? "on" : "off");
  renderJoints(live.joints);
  setText($("instruction"), live.instruction || "(none)");
  setText($("sim-status"), live.sim.message ? `${live.sim.message}${live.sim.success ? " ✓" : ""}` : "");
  const policy = live.policy;
  const latency = policy.inference_p50_ms ? ` — inference p50 ${policy.inference_p50_ms} ms, p99 ${policy.inference_p99_ms} ms;`
    + ` image to command p50 ${policy.end_to_end_p50_ms} ms, p99 ${policy.end_to_end_p99_ms} ms` : "";
  setText($("policy"), `${policy.message}${latency}`);
  renderAlarms(live.alarms);
  renderRun(live.program);
}

// A joint state the server found unusable (NaN, missing joints) comes as {valid: false, reason}: shown as such,
// with no stale numbers beside it.
function renderJoints(joints) {
  const invalid = Boolean(joints) && !joints.valid;
  set($("joints-invalid"), "hidden", !invalid);
  if (invalid) setText($("joints-invalid"), `Joint state unusable: ${joints.reason}`);
  if (!joints || invalid) {
    for (const cell of $("joints").querySelectorAll("[data-testid^='joint-']")) setText(cell, invalid ? "—" : "");
    setText($("gripper"), "?");
    return;
  }
  const names = joints.names.join();
  if (state.jointNames !== names) { state.jointNames = names; buildJoints(joints.names); }
  joints.positions.forEach((value, i) => {
    const cell = document.querySelector(`[data-testid="joint-${i}"]`);
    if (cell) setText(cell, i < joints.names.length - 1 ? `${(value * 180 / Math.PI).toFixed(1)}°` : "");
  });
  setText($("gripper"), `${(joints.positions[joints.positions.length - 1] * 1000).toFixed(1)} mm`);
}

function renderAlarms(alarms) {
  const list = $("alarms");
  const key = alarms.map((a) => a.time).join();
  if (list.dataset.key === key) return;
  list.dataset.key = key;
  list.replaceChildren(...alarms.slice().reverse().map((alarm) => el("li", {},
    el("time", {}, new Date(alarm.time * 1000).toLocaleTimeString()), `${alarm.source}: ${alarm.text}`)));
}

function renderRun(run) {
  setText($("run-program"), run.program ? `${run.program} v${run.version}` : "none");
  setText($("run-state"), run.reason ? `${run.state}: ${run.reason}` : run.state);
  const key = `${run.program}/${run.version}/${run.step}/${run.state}`;
  const list = $("run-steps");
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...run.steps.map((text, i) => el("li", { class: i === run.step && /running|paused/.test(run.state) ? "current" : "",
      "data-testid": `run-step-${i}` }, text)));
  }
  const busy = /running|paused/.test(run.state);
  for (const id of ["run-pause", "program-pause"]) set($(id), "disabled", run.state !== "running");
  for (const id of ["run-resume", "program-resume"]) set($(id), "disabled", run.state !== "paused");
  set($("program-step"), "disabled", busy && run.state !== "paused");
  for (const id of ["run-stop", "program-stop"]) set($(id), "disabled", !busy);
  set($("program-run"), "disabled", busy);
  set($("run-confirm"), "hidden", !run.skill_waiting);
}

function buildJoints(names) {
  $("joints").replaceChildren(...names.map((name, i) => el("tr", {}, el("td", {}, name),
    el("td", { "data-testid": `joint-${i}` }))));
  const arm = names.slice(0, -1);
  $("jog-joints").replaceChildren(...arm.flatMap((name, i) => [el("span", {}, `J${i + 1} ${name}`),
    jogButton("−", { mode: "joint", axis: i, direction: -1 }, `jog-joint-${i}-minus`),
    jogButton("+", { mode: "joint", axis: i, direction: 1 }, `jog-joint-${i}-plus`)]));
  $("demo-joints").replaceChildren(...arm.flatMap((name, i) => [el("span", {}, `J${i + 1} ${name}`),
    demoJogButton("−", { mode: "joint", axis: i, direction: -1 }, `demo-jog-joint-${i}-minus`),
    demoJogButton("+", { mode: "joint", axis: i, direction: 1 }, `demo-jog-joint-${i}-plus`)]));
}

// ---- jogging and held motions ---------------------------------------------------------------------
function jogStep() { return document.querySelector("#jog-steps input:checked").value; }
function jogFrame() { return document.querySelector("#jog-frames input:checked").value; }

// A Cartesian jog goes along the axes of the frame chosen when it is pressed (base or tool).
function jogButton(label, command, testid) {
  const button = el("button", { "data-testid": testid, "aria-label": testid }, label);
  holdable(button, () => {
    const step = jogStep();
    const jog = command.mode === "cartesian" ? { ...command, frame: jogFrame() } : command;
    if (step === "hold") return { type: "jog", ...jog };
    guarded(() => api("POST", "/api/jog", { ...jog, step: Number(step) }))();
    return null;
  });
  return button;
}

// Press and hold: start() returns the websocket message that starts a held motion (or null).
function holdable(button, start) {
  button.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    button.setPointerCapture(event.pointerId);
    const message = start();
    if (!message) return;
    stopHeld();
    send(message);
    button.classList.add("held");
    state.held = { button, timer: setInterval(() => send({ type: "heartbeat" }), HEARTBEAT_MS) };
  });
  for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) button.addEventListener(type, stopHeld);
  button.addEventListener("contextmenu", (event) => event.preventDefault());
}

function stopHeld() {
  if (!state.held) return;
  if (state.held.gamepad) gamepad.armed = false;  // whatever stopped it, the stick must come back to the centre
  clearInterval(state.held.timer);
  state.held.button.classList.remove("held");
  state.held = null;
  send({ type: "stop" });
}

function buildCartesian() {
  $("jog-cartesian").replaceChildren(...AXES.flatMap((axis, i) => [el("span", {}, axis.toUpperCase()),
    jogButton("−", { mode: "cartesian", axis, direction: -1 }, `jog-${axis}-minus`),
    jogButton("+", { mode: "cartesian", axis, direction: 1 }, `jog-${axis}-plus`)]));
}

// ---- programs -------------------------------------------------------------------------------------
async function loadProgramScreen() {
  const actions = state.editorActions;
  state.waypoints = (await api("GET", "/api/waypoints")).waypoints;
  $("waypoints").replaceChildren(...state.waypoints.map((waypoint) => {
    const move = el("button", { "data-testid": `move-to-${waypoint.name}`, title: "hold to move here" }, "Move here (hold)");
    holdable(move, () => ({ type: "move_to", waypoint: waypoint.name }));
    move.disabled = !can("teach");
    return el("li", { "data-testid": `waypoint-${waypoint.name}` }, el("span", {}, waypoint.name), move);
  }));
  const programs = (await api("GET", "/api/programs")).programs;
  const select = $("program-select");
  const chosen = state.program ? state.program.name : programs.length ? programs[0].name : "";  // a new one is ""
  select.replaceChildren(el("option", { value: "" }, "(new program)"),
    ...programs.map((p) => el("option", { value: p.name }, `${p.name} v${p.current_version}${p.approved_version ? ` (approved v${p.approved_version})` : ""}`)));
  select.value = programs.some((p) => p.name === chosen) ? chosen : "";
  const idle = state.editorActions === actions;
  if (idle && select.value && (!state.program || state.program.name !== select.value || !state.program.dirty)) {
    await openProgram(select.value, actions);
  } else if (!state.program) newProgram();
  renderStepFields();
  renderProgram();
}

async function openProgram(name, actions = ++state.editorActions) {
  const loaded = await api("GET", `/api/programs/${encodeURIComponent(name)}`);
  if (state.editorActions !== actions) return;  // the operator moved on while it loaded
  state.program = { name: loaded.name, steps: loaded.steps, version: loaded.version, approved: loaded.approved, dirty: false };
  renderProgram();
}

function newProgram() {
  state.editorActions++;
  state.program = { name: "", steps: [], version: 0, approved: false, dirty: false };
  $("program-select").value = "";
  renderProgram();
}

function describeStep(step) {
  if (step.type === "move") return `move (${step.mode}) to ${step.waypoint} at ${Math.round(step.speed * 100)}%`;
  if (step.type === "gripper") return `gripper ${step.command}`;
  if (step.type === "wait") return `wait ${step.seconds} s`;
  return `skill: ${step.instruction} (timeout ${step.timeout} s)`;
}

function renderProgram() {
  const program = state.program;
  $("program-name").value = program.name;
  $("program-version").textContent = program.version ? `version ${program.version}${program.approved ? " (approved)" : ""}${program.dirty ? ", unsaved changes" : ""}` : "not saved yet";
  $("program-steps").replaceChildren(...program.steps.map((step, i) => el("li", { "data-testid": `step-${i}` },
    el("span", {}, describeStep(step)),
    el("button", { onclick: () => moveStep(i, -1), "aria-label": "up", "data-testid": `step-${i}-up` }, "↑"),
    el("button", { onclick: () => moveStep(i, 1), "aria-label": "down", "data-testid": `step-${i}-down` }, "↓"),
    el("button", { onclick: () => moveStep(i, 0), "aria-label": "delete", "data-testid": `step-${i}-delete` }, "✕"))));
  const name = encodeURIComponent(program.name);
  $("program-export").href = program.version ? `/api/programs/${name}/export?version=${program.version}` : "#";
  const editor = can("edit_program");
  for (const id of ["program-save", "program-delete", "program-new", "step-add"]) $(id).disabled = !editor;
  $("program-approve").disabled = !can("approve_program") || !program.version || program.approved || program.dirty;
}

function moveStep(index, offset) {
  const steps = state.program.steps;
  const [step] = steps.splice(index, 1);
  if (offset) steps.splice(Math.max(0, Math.min(steps.length, index + offset)), 0, step);
  state.editorActions++;
  state.program.dirty = true;
  renderProgram();
}

const STEP_FIELDS = {
  move: () => [waypointSelect(), select("mode", ["joint", "linear"]), number("speed", 0.5, 0.01, 1, 0.01, "speed 0-1")],
  gripper: () => [select("command", ["open", "close"])],
  wait: () => [number("seconds", 1, 0, 600, 0.1, "seconds")],
  skill: () => [el("input", { name: "instruction", placeholder: "instruction", required: "", "data-testid": "step-instruction" }),
    number("timeout", 60, 1, 600, 1, "timeout s")],
};

function select(name, options) {
  return el("select", { name, "data-testid": `step-${name}` }, ...options.map((o) => el("option", { value: o }, o)));
}

function number(name, value, min, max, step, placeholder) {
  return el("input", { name, type: "number", value, min, max, step, placeholder, "data-testid": `step-${name}` });
}

function waypointSelect() { return select("waypoint", state.waypoints.map((w) => w.name)); }

/** The step form's fields for the chosen step type, keeping what the operator already entered. */
function renderStepFields() {
  const entered = Object.fromEntries(new FormData($("step-form")));
  $("step-fields").replaceChildren(...STEP_FIELDS[$("step-type").value]());
  for (const field of $("step-fields").querySelectorAll("[name]")) {
    const value = entered[field.name];
    if (value !== undefined && (field.tagName !== "SELECT" || [...field.options].some((o) => o.value === value))) field.value = value;
  }
}

function addStep() {
  const data = Object.fromEntries(new FormData($("step-form")));
  for (const key of ["speed", "seconds", "timeout"]) if (key in data) data[key] = Number(data[key]);
  state.program.steps.push(data);
  state.editorActions++;
  state.program.dirty = true;
  renderProgram();
}

async function saveProgram() {
  const program = state.program;
  program.name = $("program-name").value.trim();
  const saved = await api("POST", "/api/programs", { name: program.name, steps: program.steps, base_version: program.version });
  state.program = { ...program, version: saved.current_version, approved: false, dirty: false };
  toast(`saved ${saved.name} version ${saved.current_version}`);
  await loadProgramScreen();
}

async function runProgram(mode) {
  if (state.program.dirty) throw new Error("save the program first");
  await api("POST", `/api/programs/${encodeURIComponent(state.program.name)}/run`, { mode });
}

async function importProgram(event) {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  const saved = await api("POST", "/api/programs/import", await file.text());
  state.program = null;
  toast(`imported ${saved.name} as version ${saved.current_version}`);
  await loadProgramScreen();
}

// ---- policies, users, audit -----------------------------------------------------------------------
async function loadPolicies() {
  const data = await api("GET", "/api/policies");
  $("policy-current").textContent = data.current || "(unknown)";
  $("policies").replaceChildren(...data.bundles.map((bundle) => el("tr", { "data-testid": `policy-${bundle.name}` },
    el("td", {}, bundle.name), el("td", {}, bundle.robot), el("td", {}, bundle.verifies ? "yes" : `no: ${bundle.problem}`),
    el("td", {}, bundle.gate), el("td", {}, bundle.evaluation),
    el("td", {}, chooseButton(bundle)))));
}

function chooseButton(bundle) {
  const button = el("button", { "data-testid": `choose-${bundle.name}`, onclick: guarded(async () => {
    if (!(await confirmDialog(`Deploy ${bundle.name}? The policy stops while it switches.`))) return;
    await api("POST", "/api/policies/choose", { name: bundle.name });
    toast(`${bundle.name} deployed`);
    await loadPolicies();
  }) }, "Deploy");
  button.disabled = !bundle.deployable || !can("choose_policy");
  return button;
}

async function loadUsers() {
  const users = (await api("GET", "/api/users")).users;
  $("users").replaceChildren(...users.map((user) => {
    const role = select("role", ["operator", "engineer", "admin"]);
    role.value = user.role;
    role.dataset.testid = `user-${user.name}-role`;
    role.onchange = guarded(() => api("PATCH", `/api/users/${encodeURIComponent(user.name)}`, { role: role.value }).then(loadUsers));
    const toggle = el("button", { "data-testid": `user-${user.name}-toggle`, onclick: guarded(() =>
      api("PATCH", `/api/users/${encodeURIComponent(user.name)}`, { disabled: !user.disabled }).then(loadUsers)) },
    user.disabled ? "Enable" : "Disable");
    return el("tr", { "data-testid": `user-${user.name}` }, el("td", {}, user.name), el("td", {}, role),
      el("td", {}, user.disabled ? "disabled" : "active"), el("td", {}, toggle));
  }));
}

async function loadAudit() {
  const query = new URLSearchParams({ limit: "200" });
  if ($("audit-user").value) query.set("user", $("audit-user").value);
  if ($("audit-action").value) query.set("action", $("audit-action").value);
  $("audit-csv").href = `/api/audit.csv?${query}`;
  const entries = (await api("GET", `/api/audit?${query}`)).entries;
  $("audit").replaceChildren(...entries.reverse().map((entry) => el("tr", {},
    el("td", {}, new Date(entry.time * 1000).toLocaleString()), el("td", {}, entry.user || ""),
    el("td", {}, entry.action), el("td", {}, JSON.stringify(entry.detail)))));
}

// ---- demonstrations (engineers) -------------------------------------------------------------------
// Record: the instruction, then teleoperation with the same held jogs as the Jog screen (and the gripper,
// and a gamepad or 3D mouse); Stop, then Keep (appended to the dataset) or Discard. Kept ones are listed
// with their first and last frames, reviewed frame by frame and deleted here.
const DEMO_POLL_MS = 500;
const DEMO_STATES = { idle: "idle", recording: "recording", stopped: "stopped: keep or discard it",
  keeping: "keeping: writing it into the dataset" };
const demo = { status: null, episodes: [], review: null, polling: false };

function demoFrame() { return document.querySelector("#demo-frames input:checked").value; }

function demoJogButton(label, command, testid) {
  const button = el("button", { "data-testid": testid, "aria-label": testid }, label);
  holdable(button, () => ({ type: "jog", ...command, ...(command.mode === "cartesian" ? { frame: demoFrame() } : {}) }));
  return button;
}

function buildDemoCartesian() {
  $("demo-cartesian").replaceChildren(...AXES.flatMap((axis) => [el("span", {}, axis.toUpperCase()),
    demoJogButton("−", { mode: "cartesian", axis, direction: -1 }, `demo-jog-${axis}-minus`),
    demoJogButton("+", { mode: "cartesian", axis, direction: 1 }, `demo-jog-${axis}-plus`)]));
}

async function loadDemonstrations() {
  const data = await api("GET", "/api/demonstrations");
  renderDemoStatus(data.status);
  demo.episodes = data.episodes;
  setText($("demo-folder"), data.folder);
  setText($("demo-count"), String(data.episodes.length));
  $("demo-tasks").replaceChildren(...data.tasks.map((task) => el("option", { value: task })));
  $("demo-episodes").replaceChildren(...data.episodes.map((episode) => {
    const id = episode.index;
    const review = el("button", { "data-testid": `demo-review-${id}`, onclick: () => openReview(episode) }, "Review");
    const remove = el("button", { "data-testid": `demo-delete-${id}`, onclick: guarded(async () => {
      if (!(await confirmDialog(`Delete demonstration ${id} ("${episode.instruction}", ${episode.frames} frames)?`))) return;
      await api("DELETE", `/api/demonstrations/${id}?seed=${episode.seed}`);
      toast(`demonstration ${id} deleted`);
      if (demo.review && demo.review.episode.seed === episode.seed) closeReview();
      await loadDemonstrations();
    }) }, "Delete");
    const when = episode.started_at ? new Date(episode.started_at * 1000).toLocaleString() : episode.source;
    return el("tr", { "data-testid": `demo-episode-${id}` }, el("td", {}, String(id)),
      el("td", {}, thumbnail(episode, 0, "first")), el("td", {}, thumbnail(episode, -1, "last")),
      el("td", { "data-testid": `demo-episode-${id}-instruction` }, episode.instruction),
      el("td", {}, `${episode.frames} frames, ${episode.seconds.toFixed(1)} s`),
      el("td", {}, `${episode.recorded_by || ""} ${when}`), el("td", {}, review, remove));
  }));
}

function frameUrl(episode, frame, camera = "front") {
  // the seed in the address: an index another episode takes after a delete is another picture
  return `/api/demonstrations/${episode.index}/frames/${frame}?camera=${camera}&seed=${episode.seed}`;
}

function thumbnail(episode, frame, which) {
  return el("img", { class: "thumb", src: frameUrl(episode, frame), alt: `${which} frame`,
    "data-testid": `demo-thumb-${episode.index}-${which}` });
}

function renderDemoStatus(status) {
  demo.status = status;
  const recording = status.state === "recording", stopped = status.state === "stopped";
  setText($("demo-state"), DEMO_STATES[status.state] || status.state);
  const progress = status.state === "idle" ? "" : `"${status.instruction}" by ${status.user}: ${status.frames} frames,`
    + ` ${status.seconds.toFixed(1)} s${status.ended ? ` (${status.ended})` : ""}`;
  setText($("demo-progress"), progress);
  set($("demo-problem"), "hidden", !status.problem);
  setText($("demo-problem"), status.problem ? `It cannot be kept: ${status.problem}` : "");
  set($("demo-record"), "disabled", status.state !== "idle");
  set($("demo-instruction"), "disabled", status.state !== "idle");
  set($("demo-stop"), "disabled", !recording);
  set($("demo-keep"), "disabled", !stopped || Boolean(status.problem));
  set($("demo-discard"), "disabled", !recording && !stopped);
}

// The take's state while the screen shows (another engineer's tablet may record, keep or discard too).
setInterval(() => {
  if (state.screen !== "demonstrate" || !can("demonstrate") || !demo.status || demo.polling) return;
  demo.polling = true;
  guarded(async () => {
    try {
      const before = demo.status.state;
      renderDemoStatus(await api("GET", "/api/demonstrations/status"));
      if (before !== "idle" && demo.status.state === "idle") await loadDemonstrations();
    } finally { demo.polling = false; }
  })();
}, DEMO_POLL_MS);

function openReview(episode) {
  stopPlaying();
  demo.review = { episode, frame: 0, playing: false, timer: null };
  $("demo-review").hidden = false;
  setText($("demo-review-title"), `#${episode.index}: ${episode.instruction}`);
  $("demo-review-camera").replaceChildren(...episode.cameras.map((camera) => el("option", { value: camera }, camera)));
  $("demo-review-slider").max = String(episode.frames - 1);
  showReviewFrame(0);
}

function closeReview() { stopPlaying(); demo.review = null; $("demo-review").hidden = true; }

function showReviewFrame(frame) {
  const review = demo.review;
  review.frame = Math.max(0, Math.min(review.episode.frames - 1, frame));
  $("demo-review-slider").value = String(review.frame);
  const episode = review.episode;
  setText($("demo-review-position"), `frame ${review.frame + 1} of ${episode.frames},`
    + ` ${(review.frame / (episode.frames / episode.seconds)).toFixed(2)} s of ${episode.seconds.toFixed(1)} s`);
  $("demo-review-frame").src = frameUrl(episode, review.frame, $("demo-review-camera").value || "front");
}

// Play: the next frame once this one has loaded (or failed to), at the dataset's rate at most: never a queue of
// requests.
function playReview() {
  const review = demo.review;
  if (!review) return;
  if (review.playing) return stopPlaying();
  if (review.frame >= review.episode.frames - 1) showReviewFrame(0);
  review.playing = true;
  setText($("demo-review-play"), "Pause");
  const period = 1000 * review.episode.seconds / review.episode.frames;
  const image = $("demo-review-frame");
  const next = () => {
    if (demo.review !== review || !review.playing) return;
    if (review.frame >= review.episode.frames - 1) return stopPlaying();
    review.timer = setTimeout(() => {
      if (demo.review !== review || !review.playing) return;
      image.onload = image.onerror = next;
      showReviewFrame(review.frame + 1);
    }, period);
  };
  next();
}

function stopPlaying() {
  const review = demo.review;
  if (review) {
    clearTimeout(review.timer);
    review.playing = false;
  }
  $("demo-review-frame").onload = $("demo-review-frame").onerror = null;
  setText($("demo-review-play"), "Play");
}

// ---- gamepad / 3D mouse (the Gamepad API) ---------------------------------------------------------
// Polled every HEARTBEAT_MS on the Demonstrate screen: the strongest stick deflection past DEADZONE is a held
// Cartesian jog (the same websocket messages and heartbeats as a held button); back in the dead zone, the page
// hidden or the connection lost stops it, and after any stop the sticks must come back to the centre first.
const DEADZONE = 0.25;
const gamepad = { armed: true, buttons: [] };

function padAxes(pad) {
  const axis = (i) => (i < pad.axes.length ? pad.axes[i] : 0);
  if (pad.mapping === "standard") return { x: -axis(1), y: -axis(0), z: -axis(3) };  // left stick X/Y, right stick Z
  return { x: -axis(1), y: -axis(0), z: -axis(2) };  // a 3D mouse: its first three axes
}

function pollGamepad() {
  const pads = navigator.getGamepads ? [...navigator.getGamepads()].filter(Boolean) : [];
  const active = state.screen === "demonstrate" && can("demonstrate") && !document.hidden;
  const pad = active ? pads[0] : null;
  setText($("demo-gamepad"), pads.length ? `Gamepad: ${pads[0].id}` : "No gamepad or 3D mouse: connect one and press a button.");
  if (!pad) {
    if (state.held && state.held.gamepad) stopHeld();
    return;
  }
  const pressed = pad.buttons.map((button) => button.pressed);
  for (const [index, command] of [[0, "close"], [1, "open"]]) {
    if (pressed[index] && !gamepad.buttons[index]) guarded(() => api("POST", "/api/gripper", { command }))();
  }
  gamepad.buttons = pressed;
  const axes = padAxes(pad);
  const axis = AXES.reduce((best, name) => (Math.abs(axes[name]) > Math.abs(axes[best]) ? name : best), "x");
  if (Math.abs(axes[axis]) < DEADZONE) {
    if (state.held && state.held.gamepad) stopHeld();
    gamepad.armed = true;
    return;
  }
  if (!gamepad.armed) return;
  const jog = { type: "jog", mode: "cartesian", axis, direction: axes[axis] > 0 ? 1 : -1, frame: demoFrame() };
  const key = JSON.stringify(jog);
  if (state.held && state.held.gamepad && state.held.key === key) return;  // going on: its heartbeats keep it
  if (state.held && !state.held.gamepad) return;  // a button is held
  send(jog);  // starts the jog, or turns a gamepad jog to another axis (the server replaces the motion)
  if (state.held) { state.held.key = key; return; }
  $("demo-gamepad").classList.add("held");
  state.held = { button: $("demo-gamepad"), gamepad: true, key, timer: setInterval(() => send({ type: "heartbeat" }), HEARTBEAT_MS) };
}
setInterval(pollGamepad, HEARTBEAT_MS);

function wireDemonstrate() {
  buildDemoCartesian();
  $("demo-frames").addEventListener("change", () => setText($("demo-frame-label"), demoFrame()));
  $("demo-form").addEventListener("submit", guarded(async () => {
    renderDemoStatus(await api("POST", "/api/demonstrations/record", { instruction: $("demo-instruction").value }));
    toast("recording: teleoperate, then Stop");
  }));
  $("demo-stop").addEventListener("click", guarded(async () => {
    stopHeld();
    renderDemoStatus(await api("POST", "/api/demonstrations/stop", {}));
  }));
  $("demo-keep").addEventListener("click", guarded(async () => {
    const kept = await api("POST", "/api/demonstrations/keep", {});
    toast(`kept as episode ${kept.index} (${kept.frames} frames)`);
    await loadDemonstrations();
  }));
  $("demo-discard").addEventListener("click", guarded(async () => {
    if (!(await confirmDialog("Discard this demonstration? It is not kept anywhere."))) return;
    stopHeld();
    renderDemoStatus(await api("POST", "/api/demonstrations/discard", {}));
  }));
  for (const command of ["open", "close"]) {
    $(`demo-gripper-${command}`).addEventListener("click", guarded(() => api("POST", "/api/gripper", { command })));
  }
  $("demo-review-slider").addEventListener("input", () => { stopPlaying(); showReviewFrame(Number($("demo-review-slider").value)); });
  $("demo-review-camera").addEventListener("change", () => showReviewFrame(demo.review.frame));
  $("demo-review-back").addEventListener("click", () => { stopPlaying(); showReviewFrame(demo.review.frame - 1); });
  $("demo-review-forward").addEventListener("click", () => { stopPlaying(); showReviewFrame(demo.review.frame + 1); });
  $("demo-review-play").addEventListener("click", playReview);
}

// ---- wiring ---------------------------------------------------------------------------------------
function wire() {
  $("setup-form").addEventListener("submit", guarded((e) => submitCredentials("/api/setup", e.target)));
  $("login-form").addEventListener("submit", guarded((e) => submitCredentials("/api/login", e.target)));
  $("logout").addEventListener("click", guarded(async () => { await api("POST", "/api/logout"); loggedOut(); }));
  for (const tab of document.querySelectorAll("#tabs button")) tab.addEventListener("click", () => show(tab.dataset.screen));
  $("estop").addEventListener("pointerdown", guarded(async () => {
    stopHeld();
    const answer = await api("POST", "/api/estop", {});
    toast(`E-STOP: ${answer.message}`, true);
  }));
  $("reset").addEventListener("click", guarded(async () => {
    if (!(await confirmDialog("Reset the safety supervisor? Check that the cell is clear and the cause is fixed."))) return;
    toast((await api("POST", "/api/reset", { confirm: true })).message);
  }));
  $("jog-frames").addEventListener("change", () => setText($("jog-frame-label"), jogFrame()));
  $("speed").addEventListener("change", guarded(() => api("POST", "/api/speed", { percent: Number($("speed").value) })));
  $("instruct-form").addEventListener("submit", guarded(() => api("POST", "/api/instruction", { text: $("instruct-form").text.value })));
  $("instruct-clear").addEventListener("click", guarded(() => api("DELETE", "/api/instruction")));
  const control = (action) => guarded(() => api("POST", `/api/run/${action}`, {}));
  for (const [ids, action] of [[["run-pause", "program-pause"], "pause"], [["run-resume", "program-resume"], "resume"],
    [["run-stop", "program-stop"], "stop"], [["run-confirm"], "confirm"]]) for (const id of ids) $(id).addEventListener("click", control(action));
  $("program-step").addEventListener("click", guarded(() => (state.live && state.live.program.state === "paused"
    ? api("POST", "/api/run/step", {}) : runProgram("step"))));
  $("program-run").addEventListener("click", guarded(() => runProgram("run")));
  $("waypoint-form").addEventListener("submit", guarded(async (e) => {
    const form = e.target;
    await api("POST", "/api/waypoints", { name: form.name.value.trim(), replace: form.replace.checked });
    toast(`waypoint ${form.name.value} saved`);
    form.reset();
    await loadProgramScreen();
  }));
  $("program-select").addEventListener("change", guarded(async () => {
    if ($("program-select").value) await openProgram($("program-select").value); else newProgram();
  }));
  $("program-new").addEventListener("click", newProgram);
  $("program-name").addEventListener("input", () => {
    state.editorActions++;
    state.program.name = $("program-name").value;
    state.program.dirty = true;
  });
  $("program-delete").addEventListener("click", guarded(async () => {
    if (!state.program.version || !(await confirmDialog(`Delete program ${state.program.name}?`))) return;
    await api("DELETE", `/api/programs/${encodeURIComponent(state.program.name)}`);
    state.program = null;
    await loadProgramScreen();
  }));
  $("step-type").addEventListener("change", renderStepFields);
  $("step-form").addEventListener("submit", guarded(addStep));
  $("program-save").addEventListener("click", guarded(saveProgram));
  $("program-approve").addEventListener("click", guarded(async () => {
    await api("POST", `/api/programs/${encodeURIComponent(state.program.name)}/approve`, { version: state.program.version });
    state.program.approved = true;
    await loadProgramScreen();
  }));
  $("program-import").addEventListener("change", guarded(importProgram));
  $("user-form").addEventListener("submit", guarded(async (e) => {
    const data = Object.fromEntries(new FormData(e.target));
    await api("POST", "/api/users", data);
    e.target.reset();
    await loadUsers();
  }));
  $("audit-refresh").addEventListener("click", guarded(loadAudit));
  // The deadman: a hidden tab or a lost focus stops a held motion at once (and its heartbeats stop).
  document.addEventListener("visibilitychange", () => { if (document.hidden) stopHeld(); });
  window.addEventListener("blur", stopHeld);
  buildCartesian();
  wireDemonstrate();
}

wire();
guarded(start)();

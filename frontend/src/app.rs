//! The app: owns the reducer and the WebSocket, shares both through a context, and lays the components out (the
//! full playground, or the compact embed layout for `?embed=1`). It also starts lessons (`?lesson=ID`, or the
//! first lesson on a first visit), keeps the completed lessons in `localStorage` and the running lesson in the
//! address bar (so a reload or a shared link opens it again).

use std::collections::BTreeSet;

use gloo_timers::callback::Timeout;
use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::components::{
    banner::Banner, event_log::EventLog, lesson_panel::LessonPanel, picker::Picker, replay_bar::ReplayBar,
    side_panel::SidePanel, tabs::Panes, world::World, world_info::WorldInfo, world_strip::WorldStrip,
};
use crate::hooks::{
    use_catalogue::use_catalogue, use_config::use_config, use_player::use_player, use_session::use_session,
};
use crate::lesson::{FIRST_LESSON, parse_done, store_done};
use crate::state::{Action, AppState, Link, Panel, Preset, View};

/// `localStorage` key of the completed lessons (a JSON array of ids).
const PROGRESS_KEY: &str = "mailroom.progress";
/// How long to wait after Welcome for the server to resume a lesson (it sends it right after the snapshot).
const RESUME_WAIT_MS: u32 = 400;
/// `localStorage` key set once the first lesson was offered: later visits open the free playground.
const VISITED_KEY: &str = "mailroom.visited";

/// `sessionStorage` key of the transcripts kept across a reload.
const TRANSCRIPTS_KEY: &str = "mailroom.transcripts";
/// How long after the last transcript change they are saved.
const SAVE_WAIT_MS: u32 = 300;

fn session() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// What every component can reach.
#[derive(Clone, PartialEq)]
pub struct Ctx {
    /// The state (dispatch actions on it).
    pub state: UseReducerHandle<AppState>,
    /// Sends a message to the proxy on the learner's behalf (counted as an action in a lesson).
    pub send: Callback<ClientMsg>,
    /// Sends a message the page sends by itself (lesson control: not the learner's action).
    pub raw: Callback<ClientMsg>,
}

impl Ctx {
    /// Opens a connection: a new tab, and the Open message with the same ID.
    pub fn open(&self, host: &str, service: &str) {
        let conn = self.state.next_conn;
        self.state.dispatch(Action::Opening { host: host.into(), service: service.into() });
        self.send.emit(ClientMsg::Open { conn, host: host.into(), service: service.into() });
    }

    /// Starts (or restarts) a lesson; with `show`, "Show me" plays its solution after the prelude.
    pub fn start_lesson(&self, id: &str, show: bool, auto: bool) {
        self.state.dispatch(Action::LessonStarting { show, auto });
        self.raw.emit(ClientMsg::StartLesson { id: id.into() });
    }

    /// Leaves the running lesson (the world and the connections stay).
    pub fn leave_lesson(&self) {
        self.raw.emit(ClientMsg::LeaveLesson);
    }
}

/// The context hook every component uses.
#[hook]
pub fn use_ctx() -> Ctx {
    // The provider wraps the whole tree in `App`, so the context is always there.
    use_context::<Ctx>().expect("Ctx is provided by App")
}

/// The worker script of a world that runs in this tab, from the page's `<meta name="mailroom-world" content=…>`.
fn tab_world() -> Option<String> {
    let doc = web_sys::window()?.document()?;
    let meta = doc.query_selector("meta[name=mailroom-world]").ok()??;
    meta.get_attribute("content").filter(|c| !c.is_empty())
}

#[function_component(App)]
pub fn app() -> Html {
    let mut preset = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map(|q| Preset::parse(&q))
        .unwrap_or_default();
    preset.tab_world = tab_world();
    let state = use_reducer(move || {
        let done = local()
            .and_then(|s| s.get_item(PROGRESS_KEY).ok().flatten())
            .map(|j| parse_done(&j))
            .unwrap_or_default();
        AppState { done, ..AppState::new(preset) }
    });
    let raw = use_session(state.clone());
    use_catalogue(state.clone());
    use_config(state.clone());
    use_player(state.clone(), raw.clone());
    // What the learner sends counts as an action of the running lesson (the reference solution is counted the same
    // way: a line or message sent, a connection opened, a button that changes the world).
    let send = {
        let (raw, d) = (raw.clone(), state.dispatcher());
        Callback::from(move |m: ClientMsg| {
            if matches!(
                m,
                ClientMsg::Open { .. }
                    | ClientMsg::Send { .. }
                    | ClientMsg::SetOnline { .. }
                    | ClientMsg::SetBusy { .. }
                    | ClientMsg::RetryQueue
                    | ClientMsg::Skip { .. }
            ) {
                d.dispatch(Action::Acted);
            }
            raw.emit(m)
        })
    };
    let ctx = Ctx { state: state.clone(), send, raw };
    let embed = state.preset.embed;

    // Transcripts survive a reload: kept in `sessionStorage` with the session token (a moment after the last change),
    // and brought back when the server welcomes the same token again.
    {
        let key: (usize, usize) = (state.conns.len(), state.conns.iter().map(|c| c.rows.end()).sum());
        let latest = state.clone();
        use_effect_with(key, move |_| {
            let timer = Timeout::new(SAVE_WAIT_MS, move || {
                if let (Some(json), Some(st)) = (latest.save(), session()) {
                    let _ = st.set_item(TRANSCRIPTS_KEY, &json);
                }
            });
            move || drop(timer)
        });
        let d = state.dispatcher();
        let sandbox = state.sandbox();
        use_effect_with(state.token.clone(), move |token| {
            if token.is_some()
                && sandbox
                && let Some(json) = session().and_then(|s| s.get_item(TRANSCRIPTS_KEY).ok().flatten())
            {
                d.dispatch(Action::Restore(json));
            }
        });
    }

    // Completed lessons survive a reload.
    use_effect_with(state.done.clone(), |done: &BTreeSet<String>| {
        if let Some(s) = local() {
            let _ = s.set_item(PROGRESS_KEY, &store_done(done));
        }
    });

    // The running lesson is in the address bar: a reload opens it again, and the link can be shared.
    {
        let running = state.lesson.as_ref().map(|r| r.lesson.id.clone());
        let embed = state.preset.embed;
        // Untouched until a lesson started here, so presets (`?host=…&service=…`, `?room=…`) stay as they came.
        let touched = state.lesson_starts > 0;
        use_effect_with((running, touched), move |(running, touched)| {
            if !*touched {
                return;
            }
            let mut q = Vec::new();
            if let Some(id) = running {
                q.push(format!("lesson={id}"));
            } else {
                q.push("play=1".to_string());
            }
            if embed {
                q.push("embed=1".into());
            }
            if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
                let _ = h.replace_state_with_url(
                    &wasm_bindgen::JsValue::NULL,
                    "",
                    Some(&format!("?{}", q.join("&"))),
                );
            }
        });
    }

    // Lessons start once the session is up: the one in the address (`?lesson=ID`), or the first lesson on a first
    // visit to the plain page (not in rooms, embeds with a preset connection, or `?play=1`). Once per page load.
    // A reload reattaches to the same sandbox, and the server then resumes its lesson by itself (goals reached so
    // far included): the decision waits a moment for that, so a resumed lesson is not started over.
    {
        let ctx = ctx.clone();
        let up = state.link == Link::Up && state.world_kind.is_some();
        let asked = use_mut_ref(|| false);
        let latest = use_mut_ref(|| state.clone());
        *latest.borrow_mut() = state.clone();
        use_effect_with(up, move |up| {
            let mut timer = None;
            if *up && !*asked.borrow() && ctx.state.sandbox() {
                *asked.borrow_mut() = true;
                timer = Some(Timeout::new(RESUME_WAIT_MS, move || {
                    let s = latest.borrow().clone();
                    let storage = local();
                    let visited =
                        storage.as_ref().is_some_and(|st| st.get_item(VISITED_KEY).ok().flatten().is_some());
                    let running = s.lesson.as_ref().map(|r| r.lesson.id.clone());
                    if let Some(id) = &s.preset.lesson {
                        if running.as_deref() != Some(id) {
                            ctx.start_lesson(id, false, false);
                        }
                    } else if !visited
                        && running.is_none()
                        && !s.preset.play
                        && s.preset.host.is_none()
                        && s.conns.is_empty()
                    {
                        ctx.start_lesson(FIRST_LESSON, false, true);
                    }
                    if let Some(st) = storage {
                        let _ = st.set_item(VISITED_KEY, "1");
                    }
                }));
            }
            move || drop(timer)
        });
    }

    // Marks the moment the first render is on screen (`window.mailroomReadyMs`, milliseconds since navigation
    // start): the browser test reads it to report time to interactive.
    use_effect_with((), |_| {
        if let Some(w) = web_sys::window()
            && let Some(p) = w.performance()
        {
            let _ = js_sys::Reflect::set(&w, &"mailroomReadyMs".into(), &p.now().into());
        }
    });

    // A preset (`?host=mx1&service=smtp`, used by embed mode) opens its connection once the session is up.
    {
        let ctx = ctx.clone();
        let up = state.link == Link::Up;
        use_effect_with(up, move |up| {
            if *up
                && ctx.state.conns.is_empty()
                && let (Some(h), Some(s)) = (&ctx.state.preset.host, &ctx.state.preset.service)
            {
                ctx.open(h, s);
            }
        });
    }

    let lesson = state.lesson.is_some();
    let status = match &state.link {
        Link::Up => html! { <span class="status up">{ "connected" }</span> },
        Link::Connecting if state.preset.replay.is_some() => {
            html! { <span class="status">{ "replay, not connected" }</span> }
        }
        Link::Connecting => html! { <span class="status wait">{ "connecting…" }</span> },
        Link::Down(_) => html! { <span class="status down">{ "disconnected" }</span> },
    };
    let view = state.view;
    let tab = |v: View, label: &'static str, key: &'static str| {
        let d = state.dispatcher();
        let onclick = Callback::from(move |_| d.dispatch(Action::View(v)));
        html! {
            <button role="tab" aria-selected={(view == v).to_string()} data-view-tab={key} {onclick}>{ label }</button>
        }
    };
    let explaining = matches!(state.panel, Panel::Explain(..));
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <div class={classes!("app", embed.then_some("embed"))} id="app" data-link={format!("{:?}", state.link).to_lowercase()}>
                <header class="top">
                    <h1>{ "Mailroom" }</h1>
                    if !embed { <p class="tagline">{ "Type SMTP, POP3 and IMAP by hand and watch the mail move." }</p> }
                    if !embed { <WorldInfo /> }
                    { status }
                </header>
                <Banner />
                if state.preset.replay.is_some() { <ReplayBar /> }
                if embed {
                    <main class={classes!("layout", "embed-layout", (state.panel != Panel::Help || lesson).then_some("with-side"))}>
                        <section class="work" aria-label="Connections">
                            <WorldStrip />
                            if state.conns.is_empty() {
                                <Picker />
                            } else {
                                <details class="picker-more"><summary>{ "Open another connection" }</summary><Picker /></details>
                            }
                            <Panes />
                        </section>
                        if state.panel != Panel::Help || lesson {
                            <div class="side-col">
                                <LessonPanel />
                                if state.panel != Panel::Help { <SidePanel /> }
                            </div>
                        }
                    </main>
                } else {
                    // Wide screens show everything: the connection on the left, the world at the top of the right
                    // column (a strip above the connection while a lesson's story takes that place). Phones show one
                    // part at a time, chosen in the tab bar; an explanation opens over the connection.
                    <main class={classes!("layout", lesson.then_some("with-lesson"), explaining.then_some("explaining"))}
                        data-view={format!("{view:?}").to_lowercase()}>
                        <section class="work pv-connection" aria-label="Connections">
                            <WorldStrip />
                            <Picker />
                            <Panes />
                        </section>
                        <div class="side-col">
                            <div class="lesson-slot pv-connection"><LessonPanel /></div>
                            <section class="world-area pv-world" aria-label="The mail world">
                                <World />
                            </section>
                            <div class="pv-explain">
                                if !lesson || state.panel != Panel::Help { <SidePanel /> }
                            </div>
                            <div class="pv-log"><EventLog /></div>
                        </div>
                    </main>
                    <nav class="phone-tabs" role="tablist" aria-label="Parts of the page">
                        { tab(View::Connection, "Connection", "connection") }
                        { tab(View::World, "World", "world") }
                        { tab(View::Explain, "Explain", "explain") }
                        { tab(View::Log, "Log", "log") }
                    </nav>
                }
            </div>
        </ContextProvider<Ctx>>
    }
}

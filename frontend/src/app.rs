//! The app: owns the reducer and the WebSocket, shares both through a context, and lays the components out (the
//! full playground, or the compact embed layout for `?embed=1`).

use mailroom_core::wire::ClientMsg;
use yew::prelude::*;

use crate::components::{
    banner::Banner, event_log::EventLog, picker::Picker, side_panel::SidePanel, tabs::Panes, world::World,
};
use crate::hooks::use_session::use_session;
use crate::state::{Action, AppState, Link, Panel, Preset};

/// What every component can reach.
#[derive(Clone, PartialEq)]
pub struct Ctx {
    /// The state (dispatch actions on it).
    pub state: UseReducerHandle<AppState>,
    /// Sends a message to the proxy.
    pub send: Callback<ClientMsg>,
}

impl Ctx {
    /// Opens a connection: a new tab, and the Open message with the same ID.
    pub fn open(&self, host: &str, service: &str) {
        let conn = self.state.next_conn;
        self.state.dispatch(Action::Opening { host: host.into(), service: service.into() });
        self.send.emit(ClientMsg::Open { conn, host: host.into(), service: service.into() });
    }
}

/// The context hook every component uses.
#[hook]
pub fn use_ctx() -> Ctx {
    // The provider wraps the whole tree in `App`, so the context is always there.
    use_context::<Ctx>().expect("Ctx is provided by App")
}

#[function_component(App)]
pub fn app() -> Html {
    let preset = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .map(|q| Preset::parse(&q))
        .unwrap_or_default();
    let state = use_reducer(move || AppState::new(preset));
    let send = use_session(state.clone());
    let ctx = Ctx { state: state.clone(), send };
    let embed = state.preset.embed;

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

    let status = match &state.link {
        Link::Up => html! { <span class="status up">{ "connected" }</span> },
        Link::Connecting => html! { <span class="status wait">{ "connecting…" }</span> },
        Link::Down(_) => html! { <span class="status down">{ "disconnected" }</span> },
    };
    html! {
        <ContextProvider<Ctx> context={ctx}>
            <div class={classes!("app", embed.then_some("embed"))} id="app" data-link={format!("{:?}", state.link).to_lowercase()}>
                <header class="top">
                    <h1>{ "Mailroom" }</h1>
                    if !embed { <p class="tagline">{ "Type SMTP, POP3 and IMAP by hand and watch the mail move." }</p> }
                    { status }
                </header>
                <Banner />
                if embed {
                    <main class={classes!("layout", "embed-layout", (state.panel != Panel::Help).then_some("with-side"))}>
                        <section class="work" aria-label="Connections">
                            if state.conns.is_empty() {
                                <Picker />
                            } else {
                                <details class="picker-more"><summary>{ "Open another connection" }</summary><Picker /></details>
                            }
                            <Panes />
                        </section>
                        if state.panel != Panel::Help { <SidePanel /> }
                    </main>
                } else {
                    <main class="layout">
                        <section class="work" aria-label="Connections">
                            <Picker />
                            <Panes />
                        </section>
                        <SidePanel />
                        <section class="world-area" aria-label="The mail world">
                            <World />
                            <EventLog />
                        </section>
                    </main>
                }
            </div>
        </ContextProvider<Ctx>>
    }
}

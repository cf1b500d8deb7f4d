//! test
use yew::prelude::*;
#[function_component(App)]
fn app() -> Html { html! { <p>{ "hello" }</p> } }
#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(start)]
pub fn start() { yew::Renderer::<App>::new().render(); }

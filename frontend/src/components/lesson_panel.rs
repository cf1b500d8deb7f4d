//! The lesson panel: the running lesson's chapter, title and story, its goals (ticked as the server reports them
//! reached), hints one at a time, "Show me" (restarts the lesson and plays the reference solution into real
//! connections at a readable pace), the skip buttons while a queue holds mail, "Restart" and "Leave"; once
//! complete, the summary, what each goal proved, the learner's action count against the solution's, and "Next
//! lesson". Each reached goal is announced in words, visibly and in an `aria-live` region for screen readers.

use yew::prelude::*;

use crate::app::use_ctx;
use crate::components::{lesson_list::LessonList, skip_controls::SkipControls};
use crate::lesson::{next_after, paragraphs};
use crate::state::Action;

#[function_component(LessonPanel)]
pub fn lesson_panel() -> Html {
    let ctx = use_ctx();
    let s = &ctx.state;
    let Some(run) = &s.lesson else { return html! {} };
    let l = &run.lesson;
    let done = run.progress.done;
    let id = l.id.clone();

    let restart = {
        let (ctx, id) = (ctx.clone(), id.clone());
        Callback::from(move |_| ctx.start_lesson(&id, false, false))
    };
    let show = {
        let (ctx, id) = (ctx.clone(), id.clone());
        Callback::from(move |_| ctx.start_lesson(&id, true, false))
    };
    let leave = {
        let ctx = ctx.clone();
        Callback::from(move |_| ctx.leave_lesson())
    };
    let d = s.dispatcher();
    let hint = Callback::from(move |_| d.dispatch(Action::Hint));
    let next = next_after(&s.catalogue, &id).cloned();

    let goals = l.goals.iter().enumerate().map(|(i, g)| {
        let reached = run.progress.goals.get(i).copied().unwrap_or(false);
        html! {
            <li class={classes!("goal", reached.then_some("reached"))} data-goal={i.to_string()} data-reached={reached.to_string()}>
                <span class="tick" aria-hidden="true">{ if reached { "✓" } else { "○" } }</span>
                { g.text.clone() }
                <span class="sr-only">{ if reached { " (reached)" } else { " (not yet)" } }</span>
            </li>
        }
    });
    let story = html! {
        <div class="story">{ for paragraphs(&l.story).into_iter().map(|p| html! { <p>{ p }</p> }) }</div>
    };
    // The newest announcement is what the live region says; the last few stay visible until the lesson is
    // complete, when the summary below says it all again.
    let latest = run.announcements.last().cloned().unwrap_or_default();
    let recent = if done {
        Vec::new()
    } else {
        run.announcements.iter().rev().take(3).rev().cloned().collect::<Vec<_>>()
    };

    let finished = done.then(|| {
        let (mine, best) = (run.actions, l.actions());
        let count = if run.watched {
            format!("You watched the reference solution: {best} action{}. Restart to try it yourself.", plural(best))
        } else {
            format!(
                "You did it in {mine} action{}; the reference solution takes {best}.",
                plural(mine as usize)
            )
        };
        let next_btn = next.map(|n| {
            let ctx = ctx.clone();
            let nid = n.id.clone();
            let onclick = Callback::from(move |_| ctx.start_lesson(&nid, false, false));
            html! { <button class="primary" id="next-lesson" {onclick}>{ format!("Next lesson: {} →", n.title) }</button> }
        });
        html! {
            <div class="lesson-done" id="lesson-done">
                <h3>{ "Lesson complete ✓" }</h3>
                { for paragraphs(&l.summary).into_iter().map(|p| html! { <p>{ p }</p> }) }
                <h4>{ "What you proved" }</h4>
                <ul class="proved">{ for l.goals.iter().map(|g| html! { <li>{ g.proves.clone() }</li> }) }</ul>
                <p class="count" id="action-count">{ count }</p>
                { for next_btn }
            </div>
        }
    });

    html! {
        <section class={classes!("lesson", done.then_some("complete"))} id="lesson" data-lesson={id.clone()}
            data-done={done.to_string()} data-playing={run.playing().to_string()} aria-labelledby="lesson-title">
            <p class="chapter-name">{ format!("Lesson · {}", l.chapter) }</p>
            <h2 id="lesson-title">{ l.title.clone() }</h2>
            // Embedded in a tutorial page (which tells the story around it), the goals come first and the story
            // opens on request, so the frame shows what to do.
            if !s.preset.embed && !done {
                { story.clone() }
            }
            <h3 class="goals-title">{ "Goals" }</h3>
            <ol class="goals">{ for goals }</ol>
            if s.preset.embed {
                <details class="story-box"><summary>{ "The story" }</summary>{ story }</details>
            }
            <div class="announce" id="lesson-announce" aria-live="polite" role="status">
                <span class="sr-only">{ latest }</span>
                { for recent.into_iter().map(|a| html! { <p aria-hidden="true">{ a }</p> }) }
            </div>
            if run.playing() {
                <p class="playing" id="lesson-playing">{ "▶ The page is typing for you: watch each line and the server's answer." }</p>
            }
            { finished }
            if !done && !l.hints.is_empty() {
                <div class="hints">
                    if run.hints > 0 {
                        <ol id="hints">{ for l.hints.iter().take(run.hints).map(|h| html! { <li>{ h.clone() }</li> }) }</ol>
                    }
                    if run.hints < l.hints.len() {
                        <button id="hint-btn" onclick={hint}>{ format!("Hint ({} of {})", run.hints + 1, l.hints.len()) }</button>
                    }
                </div>
            }
            <SkipControls />
            <div class="lesson-actions">
                if !done {
                    <button id="show-me" onclick={show} disabled={run.playing()}
                        title="Restarts the lesson and types the reference solution, one step at a time">{ "▶ Show me" }</button>
                }
                <button id="restart-lesson" onclick={restart}>{ "↺ Restart lesson" }</button>
                <button id="leave-lesson" onclick={leave}>{ if run.auto { "Just let me play" } else { "Leave lesson" } }</button>
            </div>
            <details class="all-lessons"><summary>{ "All lessons" }</summary><LessonList /></details>
        </section>
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

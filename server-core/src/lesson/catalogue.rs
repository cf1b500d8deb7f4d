//! The curriculum: every file of `server-core/lessons/` (compiled in by `build.rs`), parsed once and checked
//! for consistency (unique ids, a goal and a solution each), in curriculum order.

use std::sync::OnceLock;

use super::{Lesson, LessonEntry};

mod files {
    include!(concat!(env!("OUT_DIR"), "/lessons.rs"));
}

/// Parses one lesson: `json` is its file's contents as `build.rs` compiles them in.
pub fn parse(name: &str, json: &str) -> Result<Lesson, String> {
    let lesson: Lesson = serde_json::from_str(json).map_err(|e| format!("{name}: {e}"))?;
    let id_ok = !lesson.id.is_empty()
        && lesson.id.len() <= 64
        && lesson.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !id_ok {
        return Err(format!("{name}: id must be 1-64 lower-case letters, digits or '-'"));
    }
    if lesson.goals.is_empty() || lesson.goals.iter().any(|g| g.checks.is_empty()) {
        return Err(format!("{name}: every lesson needs goals, every goal checks"));
    }
    if lesson.solution.is_empty() {
        return Err(format!("{name}: a lesson needs a reference solution"));
    }
    Ok(lesson)
}

/// Every lesson, in curriculum order. Panics at first use if a compiled-in file is invalid, which the unit test
/// below catches before anything ships.
pub fn all() -> &'static [Lesson] {
    static ALL: OnceLock<Vec<Lesson>> = OnceLock::new();
    ALL.get_or_init(|| match load() {
        Ok(l) => l,
        Err(e) => panic!("invalid lesson file: {e}"),
    })
}

fn load() -> Result<Vec<Lesson>, String> {
    let mut lessons = files::FILES.iter().map(|(n, t)| parse(n, t)).collect::<Result<Vec<_>, _>>()?;
    lessons.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
    for (i, l) in lessons.iter().enumerate() {
        if lessons[..i].iter().any(|o| o.id == l.id) {
            return Err(format!("two lessons have the id {}", l.id));
        }
    }
    Ok(lessons)
}

/// A lesson by id.
pub fn get(id: &str) -> Option<&'static Lesson> {
    all().iter().find(|l| l.id == id)
}

/// The catalogue as `GET /api/lessons` serves it.
pub fn entries() -> Vec<LessonEntry> {
    all().iter().map(Lesson::entry).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_file_is_valid() {
        let lessons = load().unwrap();
        assert!(!lessons.is_empty());
        assert_eq!(all().len(), files::FILES.len());
    }

    #[test]
    fn bad_files_are_refused_with_their_name() {
        let e = parse("x.toml", r#"{"id": "Bad Id"}"#).unwrap_err();
        assert!(e.starts_with("x.toml:"), "{e}");
    }
}

//! The translation from notify's events and errors, on values built the way
//! notify's backends build them (the conformance suite in the testkit covers
//! real changes on a real tree).
// A failed unwrap in a test or benchmark is a failed check, said where it happened.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use disktracker::{ErrorKind, FsEvent, FsEventKind};
use disktracker_events_notify::{translate, translate_error, watch_error};
use notify::event::{
    AccessKind, AccessMode, CreateKind, DataChange, Flag, ModifyKind, RemoveKind, RenameMode,
};
use notify::{Event, EventKind};
use rstest::rstest;

const ROOT: &str = "/watched";

fn ev(kind: EventKind, paths: &[&str]) -> Event {
    paths
        .iter()
        .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
}

fn fs(kind: FsEventKind, path: &str, is_dir: Option<bool>) -> FsEvent {
    FsEvent::new(kind, path, is_dir)
}

#[rstest]
#[case::file_created(
    ev(EventKind::Create(CreateKind::File), &["/watched/f"]),
    vec![fs(FsEventKind::Create, "/watched/f", Some(false))]
)]
#[case::dir_created(
    ev(EventKind::Create(CreateKind::Folder), &["/watched/d"]),
    vec![fs(FsEventKind::Create, "/watched/d", Some(true))]
)]
#[case::data_written(
    ev(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &["/watched/f"]),
    vec![fs(FsEventKind::Modify, "/watched/f", None)]
)]
#[case::dir_removed(
    ev(EventKind::Remove(RemoveKind::Folder), &["/watched/d"]),
    vec![fs(FsEventKind::Remove, "/watched/d", Some(true))]
)]
#[case::rename_both(
    ev(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &["/watched/a", "/watched/b"]),
    vec![FsEvent::renamed("/watched/a", "/watched/b", None)]
)]
#[case::rename_from(
    ev(EventKind::Modify(ModifyKind::Name(RenameMode::From)), &["/watched/a"]),
    vec![fs(FsEventKind::RenameFrom, "/watched/a", None)]
)]
#[case::rename_direction_unknown(
    ev(EventKind::Modify(ModifyKind::Name(RenameMode::Any)), &["/watched/a"]),
    vec![fs(FsEventKind::Modify, "/watched/a", None)]
)]
#[case::close_after_write_is_no_news(
    ev(EventKind::Access(AccessKind::Close(AccessMode::Write)), &["/watched/f"]),
    vec![]
)]
#[case::overflow_names_the_root(
    Event::new(EventKind::Other).set_flag(Flag::Rescan),
    vec![fs(FsEventKind::RescanNeeded, ROOT, None)]
)]
#[case::rescan_of_a_subtree(
    ev(EventKind::Other, &["/watched/sub"]).set_flag(Flag::Rescan),
    vec![fs(FsEventKind::RescanNeeded, "/watched/sub", None)]
)]
fn translates(#[case] event: Event, #[case] want: Vec<FsEvent>) {
    assert_eq!(translate(event, Path::new(ROOT)), want);
}

#[test]
fn out_of_watches_names_the_sysctl() {
    let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch)
        .add_path(PathBuf::from("/watched/deep/dir"));
    let err = watch_error(err, Path::new(ROOT));
    assert_eq!(err.kind(), ErrorKind::Io);
    let text = format!("{err} {}", err.hint().unwrap_or_default());
    assert!(text.contains("/watched/deep/dir"), "{text}");
    assert!(text.contains("fs.inotify.max_user_watches"), "{text}");
}

#[test]
fn out_of_instances_names_the_sysctl() {
    let err = notify::Error::io(std::io::Error::from_raw_os_error(24));
    let err = watch_error(err, Path::new(ROOT));
    let text = format!("{err} {}", err.hint().unwrap_or_default());
    assert!(text.contains("fs.inotify.max_user_instances"), "{text}");
}

#[test]
fn permission_denied_is_a_permission_error() {
    let err = notify::Error::io(std::io::Error::from_raw_os_error(13))
        .add_path(PathBuf::from("/watched/secret"));
    let err = watch_error(err, Path::new(ROOT));
    assert_eq!(err.kind(), ErrorKind::Permission, "{err}");
    assert!(err.to_string().contains("/watched/secret"), "{err}");
}

#[test]
fn running_out_of_watches_later_leaves_the_subtree_unwatched_and_says_why() {
    let err = notify::Error::new(notify::ErrorKind::MaxFilesWatch)
        .add_path(PathBuf::from("/watched/deep"));
    let events = translate_error(err, Path::new(ROOT));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, FsEventKind::Unwatched);
    assert_eq!(events[0].path, Path::new("/watched/deep"));
    let detail = events[0].detail.as_deref().unwrap_or_default();
    assert!(detail.contains("fs.inotify.max_user_watches"), "{detail}");
    assert!(detail.contains("sysctl"), "{detail}");
}

#[test]
fn any_other_error_after_start_is_a_rescan_of_what_it_names() {
    let err = notify::Error::generic("queue trouble").add_path(PathBuf::from("/watched/x"));
    let events = translate_error(err, Path::new(ROOT));
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, FsEventKind::RescanNeeded);
    assert_eq!(events[0].path, Path::new("/watched/x"));
    assert!(
        events[0]
            .detail
            .as_deref()
            .unwrap_or_default()
            .contains("queue trouble")
    );
    let nameless = translate_error(notify::Error::generic("lost"), Path::new(ROOT));
    assert_eq!(nameless[0].path, Path::new(ROOT));
}

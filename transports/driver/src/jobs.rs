//! Work that may block (a Lightning payment), run off the event loop: one thread per job,
//! at most `max_running` at once, further jobs queued up to `max_queued`; results come back
//! through a channel and a wake of the loop.

use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::task::Waker;

/// A job of [`Driver::spawn`](crate::Driver::spawn).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job{}", self.0)
    }
}

/// A job's return value, type-erased (jobs of one driver may return different types).
#[derive(Debug)]
pub struct JobOutput(Box<dyn Any + Send>);

impl JobOutput {
    /// The value, if the job returned a `T`; otherwise the output back.
    pub fn take<T: 'static>(self) -> Result<T, JobOutput> {
        self.0.downcast::<T>().map(|b| *b).map_err(JobOutput)
    }

    /// Borrows the value if the job returned a `T`.
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.0.downcast_ref::<T>()
    }
}

/// The job panicked (its message, when the panic carried a string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPanicked(pub Option<String>);

impl fmt::Display for JobPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(m) => write!(f, "job panicked: {m}"),
            None => f.write_str("job panicked"),
        }
    }
}

impl std::error::Error for JobPanicked {}

/// Why [`Driver::spawn`](crate::Driver::spawn) refused a job.
#[derive(Debug)]
#[non_exhaustive]
pub enum SpawnError {
    /// `max_running` jobs run and `max_queued` wait already.
    QueueFull,
    /// The operating system refused a thread.
    Thread(std::io::Error),
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::QueueFull => f.write_str("job queue full"),
            SpawnError::Thread(e) => write!(f, "cannot start a job thread: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Thread(e) => Some(e),
            SpawnError::QueueFull => None,
        }
    }
}

type Job = Box<dyn FnOnce() -> Box<dyn Any + Send> + Send>;
type Done = (JobId, Result<JobOutput, JobPanicked>);

pub(crate) struct Jobs {
    max_running: usize,
    max_queued: usize,
    running: usize,
    queued: VecDeque<(JobId, Job)>,
    next: u64,
    tx: mpsc::Sender<Done>,
    rx: mpsc::Receiver<Done>,
    waker: Waker,
}

impl Jobs {
    pub(crate) fn new(max_running: usize, max_queued: usize, waker: Waker) -> Self {
        let (tx, rx) = mpsc::channel();
        Jobs {
            max_running: max_running.max(1),
            max_queued,
            running: 0,
            queued: VecDeque::new(),
            next: 0,
            tx,
            rx,
            waker,
        }
    }

    /// The loop's waker (the I/O's), which job threads wake when they finish.
    pub(crate) fn waker(&self) -> &Waker {
        &self.waker
    }

    pub(crate) fn spawn(&mut self, job: Job) -> Result<JobId, SpawnError> {
        if self.running >= self.max_running && self.queued.len() >= self.max_queued {
            return Err(SpawnError::QueueFull);
        }
        self.next += 1;
        let id = JobId(self.next);
        if self.running < self.max_running {
            self.start(id, job)?;
        } else {
            self.queued.push_back((id, job));
        }
        Ok(id)
    }

    fn start(&mut self, id: JobId, job: Job) -> Result<(), SpawnError> {
        let tx = self.tx.clone();
        let waker = self.waker.clone();
        std::thread::Builder::new()
            .name(format!("moneysocket-{id}"))
            .spawn(move || {
                let r = catch_unwind(AssertUnwindSafe(job))
                    .map(JobOutput)
                    .map_err(|p| {
                        JobPanicked(
                            p.downcast_ref::<&str>()
                                .map(|s| (*s).to_owned())
                                .or_else(|| p.downcast_ref::<String>().cloned()),
                        )
                    });
                // the driver may be gone: nobody to tell
                if tx.send((id, r)).is_ok() {
                    waker.wake();
                }
            })
            .map_err(SpawnError::Thread)?;
        self.running += 1;
        Ok(())
    }

    /// Jobs running or queued.
    pub(crate) fn len(&self) -> usize {
        self.running + self.queued.len()
    }

    /// Collects finished jobs and starts queued ones in their place.
    pub(crate) fn collect(&mut self, mut done: impl FnMut(JobId, Result<JobOutput, JobPanicked>)) {
        while let Ok((id, r)) = self.rx.try_recv() {
            self.running -= 1;
            done(id, r);
        }
        while self.running < self.max_running {
            let Some((id, job)) = self.queued.pop_front() else {
                break;
            };
            if let Err(e) = self.start(id, job) {
                done(id, Err(JobPanicked(Some(e.to_string()))));
            }
        }
    }
}
